"""The offer attributes the propensity model reads, defined once: the offers table's columns, the
feature each becomes and its type. The dataset builder, batch scoring, the service and the gate's
replay all build (customer x offer) rows through this module, so training and serving cannot
disagree on an offer (a face value of 0 is 0.0 everywhere; no value is NaN)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

OFFER_COLUMNS = {  # offers table column -> propensity feature
    "offer_type": "offer_type",
    "value": "offer_value",
    "points_cost": "offer_points_cost",
    "valid_days": "offer_valid_days",
    "channel": "offer_channel",
}
NUMERIC = ("offer_value", "offer_points_cost", "offer_valid_days")
UNKNOWN = "unknown"  # a categorical attribute the catalogue does not give


def offer_feature_values(
    *, offer_type: Any, value: Any, points_cost: Any, valid_days: Any, channel: Any
) -> dict[str, Any]:
    """One catalogue offer's propensity features (numbers as float, NaN when not given)."""
    return {
        "offer_type": UNKNOWN if offer_type is None else str(offer_type),
        "offer_value": _number(value),
        "offer_points_cost": _number(points_cost),
        "offer_valid_days": _number(valid_days),
        "offer_channel": UNKNOWN if channel is None else str(channel),
    }


def as_numbers(values: pd.Series) -> pd.Series:
    """A numeric offer attribute column as float64 (the contract's dtype); bad values are NaN."""
    return pd.to_numeric(values, errors="coerce").astype("float64")


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number
