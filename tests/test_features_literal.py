"""Customer features on tiny literal logs, with exact expected values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.customer import References, compute_features
from features.definitions import FEATURE_NAMES, NEVER_DAYS, SPECS
from features.timeline import Timeline

T = pd.Timestamp("2025-03-01", tz="UTC")


def _log(rows: list[tuple]) -> pd.DataFrame:
    cols = [
        "event_type",
        "occurred_at",
        "customer_id",
        "partner_id",
        "contract_id",
        "amount",
        "points",
        "dealer_id",
        "tier",
        "consent_scope",
        "consent_granted",
        "flag_status",
    ]
    frame = pd.DataFrame([r + (None,) * (len(cols) - len(r)) for r in rows], columns=cols)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True, format="ISO8601")
    frame["event_id"] = np.arange(len(frame))
    return frame


LOG = _log(
    [
        ("enrollment", "2024-01-10", 1, "P01", "C-P01", None, None, "D1", "basic"),
        (
            "consent_changed",
            "2024-01-10 00:01",
            1,
            "P01",
            None,
            None,
            None,
            None,
            None,
            "marketing",
            True,
        ),
        ("purchase", "2024-06-01", 1, "P01", "C-P01", 300.0, None, "D1"),
        ("points_accrued", "2024-06-01 00:00:01", 1, "P01", "C-P01", None, 300, "D1"),
        ("service_visit", "2025-02-20", 1, "P01", "C-P01", 200.0, None, "D2"),
        ("points_accrued", "2025-02-20 00:00:01", 1, "P01", "C-P01", None, 200, "D2"),
        ("points_redeemed", "2025-02-20 00:00:02", 1, "P01", "C-P01", None, 400, "D2"),
        ("tier_changed", "2024-07-01", 1, None, None, None, None, None, "silver"),
        (
            "consent_changed",
            "2025-02-25",
            1,
            "P01",
            None,
            None,
            None,
            None,
            None,
            "marketing",
            False,
        ),
        # at or after T: must never count
        ("purchase", "2025-03-01", 1, "P01", "C-P01", 999.0, None, "D9"),
        ("complaint", "2025-03-02", 1, "P01"),
        # a second customer with purchases only
        ("purchase", "2025-02-27 12:00", 2, "P02", None, 50.0, None, "D7"),
        ("purchase", "2024-12-01", 2, "P02", None, 80.0, None, "D7"),
    ]
)


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    refs = References.from_frames(
        customers=pd.DataFrame({"customer_id": [1], "region": ["north"], "birth_year": [1980]}),
        partners=pd.DataFrame({"partner_id": ["P01"], "kind": ["oem"]}),
        contracts=pd.DataFrame({"contract_id": ["C-P01"], "cost_per_point": [0.01]}),
    )
    return compute_features(Timeline(LOG), [1, 2, 3], T, refs).set_index("customer_id")


def test_columns_are_the_contract_order(features: pd.DataFrame) -> None:
    assert list(features.columns) == ["as_of", *FEATURE_NAMES]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("region", "north"),
        ("age_years", 45.0),
        ("partner_id", "P01"),
        ("partner_kind", "oem"),
        ("contract_cost_per_point", 0.01),
        ("tenure_days", (T - pd.Timestamp("2024-01-10", tz="UTC")).days),
        ("tier", "silver"),
        ("days_in_tier", (T - pd.Timestamp("2024-07-01", tz="UTC")).days),
        ("consent_marketing", 0),
        ("consent_data_sharing", -1),
        ("days_since_last_activity", 9.0 - 2 / 86400),
        ("days_since_last_purchase", (T - pd.Timestamp("2024-06-01", tz="UTC")).days),
        ("days_since_last_service", 9.0),
        ("activity_30d", 2),
        ("activity_365d", 3),
        ("purchases_365d", 1),
        ("spend_365d", 300.0),
        ("service_visits_90d", 1),
        ("service_spend_365d", 200.0),
        ("avg_ticket_365d", 250.0),
        ("points_earned_30d", 200.0),
        ("points_earned_365d", 500.0),
        ("points_redeemed_365d", 400.0),
        ("points_balance", 100.0),
        ("redeem_to_earn_365d", 0.8),
        ("complaints_365d", 0),
        ("days_since_last_complaint", NEVER_DAYS),
        ("soon_redemption_share_365d", 1.0),  # 400 redeemed > 300 held 7 days before
        ("dealer_concentration_365d", 0.5),
        ("distinct_dealers_365d", 2),
    ],
)
def test_customer_one(features: pd.DataFrame, name: str, expected) -> None:
    assert (
        features.loc[1, name] == pytest.approx(expected)
        if isinstance(expected, float)
        else (features.loc[1, name] == expected)
    )


def test_purchases_only_customer_gets_neutral_values(features: pd.DataFrame) -> None:
    row = features.loc[2]
    assert row["purchases_90d"] == 2 and row["spend_90d"] == 130.0
    assert row["tier"] == "basic" and row["consent_marketing"] == -1
    assert row["complaints_365d"] == 0 and row["offers_received_365d"] == 0
    assert row["days_since_last_offer"] == NEVER_DAYS and row["region"] == "unknown"
    assert np.isnan(row["age_years"]) and row["dealer_concentration_365d"] == 1.0


def test_unknown_customer_is_all_neutral(features: pd.DataFrame) -> None:
    row = features.loc[3]
    for name in FEATURE_NAMES:
        neutral = SPECS[name].neutral
        if name == "activity_trend":
            neutral = 1.0
        if isinstance(neutral, float) and np.isnan(neutral):
            assert np.isnan(row[name]), name
        elif name not in ("tenure_days", "days_in_tier", "tier", "month_of_year"):
            assert row[name] == neutral, name
    assert row["month_of_year"] == row["as_of"].month  # the calendar, known for anyone


def test_per_pair_as_of_matches_snapshot() -> None:
    tl = Timeline(LOG)
    snap = compute_features(tl, [1, 2, 3], T)
    t_us = np.array([T.value // 1000] * 3)
    per_pair = compute_features(
        Timeline(LOG), [1, 2, 3], pd.to_datetime(t_us + np.array([0, 0, 1]), unit="us", utc=True)
    )
    pd.testing.assert_frame_equal(
        snap.drop(columns="as_of").iloc[:2],
        per_pair.drop(columns="as_of").iloc[:2],
        check_dtype=False,
    )
