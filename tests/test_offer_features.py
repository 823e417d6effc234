"""The offer attributes the propensity model reads are built one way for training and serving."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd

from features.dataset import _offer_attributes
from features.offers import offer_feature_values
from serving.batch import candidate_offers
from serving.decide import offer_values


def test_a_zero_face_value_is_zero_and_a_missing_one_nan() -> None:
    zero = offer_feature_values(
        offer_type="bonus", value=0, points_cost=500, valid_days=30, channel="app"
    )
    assert zero == {
        "offer_type": "bonus",
        "offer_value": 0.0,
        "offer_points_cost": 500.0,
        "offer_valid_days": 30.0,
        "offer_channel": "app",
    }
    missing = offer_feature_values(
        offer_type=None, value=None, points_cost="x", valid_days=7, channel=None
    )
    assert missing["offer_type"] == missing["offer_channel"] == "unknown"
    assert math.isnan(missing["offer_value"]) and math.isnan(missing["offer_points_cost"])


def test_service_batch_and_dataset_give_an_offer_the_same_features() -> None:
    table = pd.DataFrame(
        {
            "offer_id": ["O1"],
            "partner_id": ["P1"],
            "offer_type": ["discount"],
            "value": [0.0],
            "points_cost": [2500],
            "valid_days": [14],
            "channel": ["email"],
        }
    )
    policy_offer = SimpleNamespace(
        type="discount", face_value=0, points_cost=2500, valid_days=14, channel="email"
    )
    served = offer_values(policy_offer)
    batch = candidate_offers(table, None).iloc[0]
    built = _offer_attributes(pd.DataFrame({"offer_id": ["O1"]}), table).iloc[0]
    for name, value in served.items():
        assert batch[name] == value, name
        assert built[name] == value, name
