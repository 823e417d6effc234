"""A deliberately naive, correct baseline for the customer features: pandas groupby/apply.

Each customer's events before T go through ``customer_features`` one customer at a time, with
plain pandas filters, the way a first notebook version would be written. It covers a
representative subset of ``features.customer.compute_features`` (NAIVE_FEATURES) with the same
definitions: windows are [T - w days, T), "last" means the latest event before T (file order
breaks ties in time), nulls add nothing to sums, time-since features cap at NEVER_DAYS. It is the
anchor the features benchmark measures the product against, and ``mismatches`` checks that both
give the same answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from features.definitions import NEVER_DAYS, SPECS

DAY = pd.Timedelta(days=1)
Ids = np.ndarray | Sequence[int] | Sequence[str]
When = pd.Timestamp | datetime | str
QUALIFYING = ("purchase", "service_visit", "points_redeemed")

# (feature prefix, event types, windows in days): counts of events in [T - w, T)
COUNTS: tuple[tuple[str, tuple[str, ...], tuple[int, ...]], ...] = (
    ("activity", QUALIFYING, (7, 30, 90, 365)),
    ("purchases", ("purchase",), (30, 90, 365)),
    ("service_visits", ("service_visit",), (90, 365)),
    ("complaints", ("complaint",), (90, 365)),
    ("offers_received", ("offer_sent",), (30, 90, 365)),
    ("offers_redeemed", ("offer_redeemed",), (365,)),
    ("offers_declined", ("offer_declined",), (90, 365)),
)
# (feature prefix, event types, column, windows in days): sums of a column over [T - w, T)
SUMS: tuple[tuple[str, tuple[str, ...], str, tuple[int, ...]], ...] = (
    ("spend", ("purchase",), "amount", (30, 90, 365)),
    ("service_spend", ("service_visit",), "amount", (365,)),
    ("points_earned", ("points_accrued",), "points", (30, 90, 365)),
    ("points_redeemed", ("points_redeemed",), "points", (90, 365)),
)
# feature -> event types whose latest event before T it measures the days since
LAST: dict[str, tuple[str, ...]] = {
    "days_since_last_activity": QUALIFYING,
    "days_since_last_purchase": ("purchase",),
    "days_since_last_service": ("service_visit",),
    "days_since_last_redemption": ("points_redeemed",),
    "days_since_last_complaint": ("complaint",),
    "days_since_last_offer": ("offer_sent",),
    "days_since_last_offer_redeemed": ("offer_redeemed",),
}
OTHERS = (
    "points_balance",
    "tier",
    "days_in_tier",
    "tenure_days",
    "products_registered",
    "consent_marketing",
    "consent_data_sharing",
    "small_purchases_90d",
    "suspected_flags_365d",
    "avg_ticket_365d",
    "activity_trend",
    "redeem_to_earn_365d",
    "offer_response_rate_365d",
    "accrual_velocity_30d",
    "visits_per_year_all",
    "avg_ticket_all",
    "redemptions_per_visit_all",
    "offers_received_all",
    "offer_response_rate_all",
    "offer_decline_rate_all",
)
COLUMNS = (  # the event columns these features read
    "customer_id",
    "event_type",
    "occurred_at",
    "amount",
    "points",
    "tier",
    "consent_scope",
    "consent_granted",
    "flag_status",
)
NAIVE_FEATURES: tuple[str, ...] = (
    *(f"{name}_{w}d" for name, _, windows in COUNTS for w in windows),
    *(f"{name}_{w}d" for name, _, _, windows in SUMS for w in windows),
    *LAST,
    *OTHERS,
)


def utc(as_of: When) -> pd.Timestamp:
    """``as_of`` as a UTC timestamp (naive means UTC, as in the event schema)."""
    ts = pd.Timestamp(as_of)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def events_before(
    events: pd.DataFrame, as_of: When, customer_ids: Ids | None = None
) -> pd.DataFrame:
    """The events strictly before T (only COLUMNS), optionally only those of ``customer_ids``."""
    keep = events["occurred_at"] < utc(as_of)
    if customer_ids is not None:
        keep &= events["customer_id"].isin(pd.unique(np.asarray(customer_ids)))
    return events.loc[keep, [c for c in COLUMNS if c in events.columns]]


def per_customer(before: pd.DataFrame, customer_ids: Ids, as_of: When) -> pd.DataFrame:
    """NAIVE_FEATURES of each customer (index), one groupby/apply call per customer."""
    ts = utc(as_of)
    rows = before.groupby("customer_id", sort=False).apply(
        lambda g: pd.Series(customer_features(g, ts)), include_groups=False
    )
    ids = pd.Index(pd.unique(np.asarray(customer_ids)), name="customer_id")
    frame = rows.reindex(index=ids, columns=list(NAIVE_FEATURES))
    neutral = customer_features(before.iloc[:0], ts)  # customers without events before T
    return frame.fillna(value=neutral).infer_objects()


def naive_features(events: pd.DataFrame, customer_ids: Ids, as_of: When) -> pd.DataFrame:
    """NAIVE_FEATURES as of T for ``customer_ids``, indexed by customer_id."""
    return per_customer(events_before(events, as_of, customer_ids), customer_ids, as_of)


def customer_features(events: pd.DataFrame, as_of: pd.Timestamp) -> dict[str, float | int | str]:
    """Every NAIVE_FEATURE of one customer from their events before ``as_of``."""
    c = _Customer(events.sort_values("occurred_at", kind="stable"), as_of)  # ties: file order
    out: dict[str, float | int | str] = {}
    for name, types, windows in COUNTS:
        out |= {f"{name}_{w}d": c.count(types, w) for w in windows}
    for name, types, column, windows in SUMS:
        out |= {f"{name}_{w}d": c.total(types, column, w) for w in windows}
    out |= {name: c.days_since_last(types) for name, types in LAST.items()}
    state = _state(c)
    return out | state | _flags(c) | _derived(out) | _whole_history(c, state["tenure_days"])


class _Customer:
    """One customer's events before T, with the type and window masks cached."""

    def __init__(self, events: pd.DataFrame, as_of: pd.Timestamp) -> None:
        self.events, self.as_of = events, as_of
        self.when = events["occurred_at"]
        self._types: dict[tuple[str, ...], pd.Series] = {}
        self._recent: dict[int, pd.Series] = {}

    def of(self, types: tuple[str, ...], days: int | None = None) -> pd.Series:
        """Mask of the events of these types in [T - days, T) (all before T for None)."""
        if types not in self._types:
            self._types[types] = self.events["event_type"].isin(types)
        if days is None:
            return self._types[types]
        if days not in self._recent:
            self._recent[days] = self.when >= self.as_of - days * DAY
        return self._types[types] & self._recent[days]

    def count(self, types: tuple[str, ...], days: int | None = None) -> int:
        return int(self.of(types, days).sum())

    def total(self, types: tuple[str, ...], column: str, days: int | None = None) -> float:
        return float(self.events.loc[self.of(types, days), column].sum())

    def last(self, types: tuple[str, ...], column: str) -> Any:
        """The column at the latest event of these types (None when there is none)."""
        values = self.events.loc[self.of(types), column]
        return values.iloc[-1] if len(values) else None

    def days_since(self, when: pd.Timestamp | None) -> float:
        return NEVER_DAYS if when is None else min((self.as_of - when) / DAY, NEVER_DAYS)

    def days_since_last(self, types: tuple[str, ...]) -> float:
        return self.days_since(self.last(types, "occurred_at"))


def _state(c: _Customer) -> dict[str, float | int | str]:
    """Points balance, tier, tenure, products and consents as of T."""
    enrolled = c.when[c.of(("enrollment",))]
    first = enrolled if len(enrolled) else c.when
    tenure = c.days_since(first.iloc[0]) if len(first) else 0.0
    tier = c.last(("tier_changed",), "tier")
    spent = c.total(("points_redeemed",), "points") + c.total(("points_expired",), "points")
    return {
        "points_balance": c.total(("points_accrued",), "points") - spent,
        "tier": "basic" if pd.isna(tier) else str(tier),
        "days_in_tier": min(c.days_since_last(("tier_changed",)), tenure),
        "tenure_days": tenure,
        "products_registered": c.count(("product_registered",)),
        "consent_marketing": _consent(c, "marketing"),
        "consent_data_sharing": _consent(c, "data_sharing"),
    }


def _consent(c: _Customer, scope: str) -> int:
    """1 granted, 0 withdrawn, -1 unknown: the latest consent change of this scope decides."""
    changes = c.events[c.of(("consent_changed",)) & (c.events["consent_scope"] == scope)]
    if not len(changes) or pd.isna(granted := changes["consent_granted"].iloc[-1]):
        return -1
    return int(bool(granted))


def _flags(c: _Customer) -> dict[str, int]:
    small = c.of(("purchase",), 90) & (c.events["amount"] < 100)
    suspected = c.of(("account_flagged",), 365) & (c.events["flag_status"] == "suspected")
    return {"small_purchases_90d": int(small.sum()), "suspected_flags_365d": int(suspected.sum())}


def _whole_history(c: _Customer, tenure_days: float) -> dict[str, float | int]:
    """Habits over every event before T (feature set v3)."""
    visit_types = ("purchase", "service_visit")
    visits = c.count(visit_types)
    sent = c.count(("offer_sent",))
    return {
        "visits_per_year_all": visits * 365.0 / max(tenure_days, 30.0),
        "avg_ticket_all": c.total(visit_types, "amount") / max(visits, 1),
        "redemptions_per_visit_all": min(c.count(("points_redeemed",)) / max(visits, 1), 1.0),
        "offers_received_all": sent,
        "offer_response_rate_all": min(c.count(("offer_redeemed",)) / max(sent, 1), 1.0),
        "offer_decline_rate_all": min(c.count(("offer_declined",)) / max(sent, 1), 1.0),
    }


def _derived(f: dict[str, Any]) -> dict[str, float]:
    """Ratios of the window features, as defined in features/definitions.py."""
    visits = f["purchases_365d"] + f["service_visits_365d"]
    response = f["offers_redeemed_365d"] / max(f["offers_received_365d"], 1)
    return {
        "avg_ticket_365d": (f["spend_365d"] + f["service_spend_365d"]) / max(visits, 1),
        "activity_trend": (f["activity_90d"] + 1) / (f["activity_365d"] / 4 + 1),
        "redeem_to_earn_365d": f["points_redeemed_365d"] / max(f["points_earned_365d"], 1),
        "offer_response_rate_365d": min(response, 1.0),
        "accrual_velocity_30d": f["points_earned_30d"] / 30.0,
    }


def mismatches(product: pd.DataFrame, naive: pd.DataFrame, tol: float = 1e-9) -> list[str]:
    """Where ``compute_features`` output and ``naive_features`` output disagree (empty: none).

    Numbers must agree to ``tol`` (absolute or relative), categories exactly.
    """
    prod = product.drop_duplicates("customer_id").set_index("customer_id").reindex(naive.index)
    problems = []
    for name in NAIVE_FEATURES:
        a, b = prod[name], naive[name]
        if SPECS[name].dtype == "category":
            same = a.astype(str).to_numpy() == b.astype(str).to_numpy()
        else:
            x, y = a.to_numpy(dtype=float), b.to_numpy(dtype=float)
            same = np.isclose(x, y, rtol=tol, atol=tol) | (np.isnan(x) & np.isnan(y))
        if not same.all():
            bad = np.flatnonzero(~same)[:3]
            shown = ", ".join(f"{naive.index[i]}: {a.iloc[i]!r} vs {b.iloc[i]!r}" for i in bad)
            problems.append(f"{name}: {(~same).sum()} customers differ (product vs naive: {shown})")
    return problems
