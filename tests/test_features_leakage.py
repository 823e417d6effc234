"""No leakage: events at or after T never change a feature as of T (property-based)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.customer import compute_features
from features.timeline import Timeline

TYPES = [
    "enrollment",
    "purchase",
    "service_visit",
    "points_accrued",
    "points_redeemed",
    "tier_changed",
    "offer_sent",
    "offer_redeemed",
    "offer_declined",
    "complaint",
    "consent_changed",
    "account_flagged",
    "product_registered",
]
BASE = pd.Timestamp("2025-01-01", tz="UTC")
T = BASE + pd.Timedelta(days=200)

event = st.fixed_dictionaries(
    {
        "event_type": st.sampled_from(TYPES),
        "day": st.floats(0, 400, allow_nan=False),
        "customer_id": st.integers(1, 4),
        "amount": st.floats(0, 500, allow_nan=False),
        "points": st.integers(0, 800),
        "dealer_id": st.sampled_from(["D1", "D2", "D3"]),
        "tier": st.sampled_from(["basic", "silver", "gold"]),
        "partner_id": st.sampled_from(["P01", "P02"]),
    }
)


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["occurred_at"] = BASE + pd.to_timedelta(frame.pop("day"), unit="D")
    frame["event_id"] = np.arange(len(frame))
    frame["consent_scope"] = "marketing"
    frame["consent_granted"] = frame["points"] % 2 == 0
    frame["flag_status"] = "suspected"
    frame["product_model"] = "suv"
    frame["product_year"] = 2020
    frame["contract_id"] = "C-" + frame["partner_id"]
    return frame


def _features(frame: pd.DataFrame, as_of) -> pd.DataFrame:
    ids = np.arange(1, 5)
    return compute_features(Timeline(frame), ids, as_of).drop(columns="as_of")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    before=st.lists(event, min_size=1, max_size=25),
    after=st.lists(event, max_size=25),
    data=st.data(),
)
def test_events_at_or_after_t_change_nothing(before, after, data) -> None:
    past = [dict(e, day=e["day"] % 200) for e in before]  # strictly before T
    future = [dict(e, day=200 + e["day"] % 200) for e in after]  # at or after T
    reference = _features(_frame([*past, dict(past[0], day=200)]), T)
    changed = _features(_frame(past + future + [dict(past[0], day=200)]), T)
    pd.testing.assert_frame_equal(reference, changed)


@settings(max_examples=15, deadline=None)
@given(
    before=st.lists(event, min_size=1, max_size=20),
    after=st.lists(event, max_size=20),
    cut=st.floats(10, 190),
)
def test_per_pair_as_of_ignores_later_events(before, after, cut) -> None:
    """Propensity rows are built at each send time: the same guarantee per row."""
    rows = [dict(e, day=e["day"] % 400) for e in before + after]
    t = BASE + pd.Timedelta(days=cut)
    as_of = pd.Series([t, t + pd.Timedelta(days=1), t, t + pd.Timedelta(days=2)])
    full = compute_features(Timeline(_frame(rows)), np.arange(1, 5), as_of)
    for i in range(4):
        kept = [r for r in rows if BASE + pd.Timedelta(days=r["day"]) < as_of[i]] or rows[:1]
        alone = compute_features(Timeline(_frame(kept)), [i + 1], as_of[i]).iloc[0]
        if not any(BASE + pd.Timedelta(days=r["day"]) < as_of[i] for r in rows):
            continue
        pd.testing.assert_series_equal(
            full.iloc[i].drop("as_of"), alone.drop("as_of"), check_names=False, check_dtype=False
        )
