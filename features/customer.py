"""Customer features as of any T, from a Timeline and the reference tables (pure, no I/O).

One implementation serves the dataset builder (snapshots and per-offer send times) and the online
materialisation, so training and serving cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.dealers import dealer_mix
from features.definitions import FEATURE_NAMES, NEVER_DAYS, SPECS, UNKNOWN, WINDOWS
from features.query import Query
from features.schema import QUALIFYING_ACTIVITY
from features.timeline import DAY_US, Timeline

VISITS = ("purchase", "service_visit")
SOON_DAYS = 7.0


@dataclass(frozen=True)
class References:
    """Reference tables, each indexed by its key; any may be empty."""

    customers: pd.DataFrame
    partners: pd.DataFrame
    contracts: pd.DataFrame

    @classmethod
    def empty(cls) -> References:
        return cls(pd.DataFrame(), pd.DataFrame(), pd.DataFrame())

    @classmethod
    def from_frames(cls, customers=None, partners=None, contracts=None) -> References:
        def keyed(frame: pd.DataFrame | None, key: str) -> pd.DataFrame:
            if frame is None or not len(frame):
                return pd.DataFrame()
            return frame.drop_duplicates(key).set_index(key)

        return cls(
            keyed(customers, "customer_id"),
            keyed(partners, "partner_id"),
            keyed(contracts, "contract_id"),
        )


def _lookup(table: pd.DataFrame, column: str, keys: np.ndarray, default):
    if column not in table.columns:
        return np.full(len(keys), default, dtype=object if isinstance(default, str) else float)
    values = table[column].reindex(pd.Index(keys, dtype=object) if keys.dtype == object else keys)
    if isinstance(default, str):
        return values.astype(object).where(values.notna(), default).to_numpy()
    return pd.to_numeric(values, errors="coerce").fillna(default).to_numpy(dtype=float)


def _streams(tl: Timeline) -> dict:
    redeemed = tl.stream("points_redeemed", ("points_redeemed",))
    return {
        "activity": tl.stream("activity", tuple(QUALIFYING_ACTIVITY)),
        "purchase": tl.stream("purchase", ("purchase",)),
        "small_purchase": tl.stream(
            "small_purchase", ("purchase",), where=lambda pos: tl.values_at("amount", pos) < 100
        ),
        "service": tl.stream("service", ("service_visit",)),
        "visit": tl.stream("visit", VISITS),
        "accrued": tl.stream("accrued", ("points_accrued",)),
        "redeemed": redeemed,
        "expired": tl.stream("expired", ("points_expired",)),
        "enrolment": tl.stream("enrolment", ("enrollment",)),
        "tier": tl.stream("tier", ("tier_changed",)),
        "product": tl.stream("product", ("product_registered",)),
        "complaint": tl.stream("complaint", ("complaint",)),
        "sent": tl.stream("sent", ("offer_sent",)),
        "offer_redeemed": tl.stream("offer_redeemed", ("offer_redeemed",)),
        "declined": tl.stream("declined", ("offer_declined",)),
        "suspected": tl.stream(
            "suspected", ("account_flagged",), where=tl.equals("flag_status", "suspected")
        ),
        "partnered_visit": tl.stream(
            "partnered_visit", VISITS, where=tl.labels("partner_id")[0] >= 0
        ),
    }


def _consent(tl: Timeline, q: Query, scope: str) -> np.ndarray:
    where = tl.equals("consent_scope", scope)
    stream = tl.stream(f"consent_{scope}", ("consent_changed",), where=where)
    return q.last_number(stream, "consent_granted", -1.0).astype(np.int64)


def _identity(tl: Timeline, q: Query, s: dict, ids: np.ndarray, refs: References) -> dict:
    t_stamps = pd.to_datetime(q.as_of_us, unit="us", utc=True)
    t_years = t_stamps.year.to_numpy()
    birth = _lookup(refs.customers, "birth_year", ids, np.nan)
    enrol_partner = q.last_label(s["enrolment"], "partner_id", UNKNOWN)
    any_partner = q.last_label(s["partnered_visit"], "partner_id", UNKNOWN)
    partner = np.where(enrol_partner == UNKNOWN, any_partner, enrol_partner)
    contract = q.last_label(s["enrolment"], "contract_id", UNKNOWN)
    since_any = q.days_since_first_event()  # NaN: nothing before T, a new customer
    first = np.where(
        q.count(s["enrolment"]) > 0,
        q.days_since_first(s["enrolment"], NEVER_DAYS),
        np.nan_to_num(since_any, nan=0.0),
    )
    tier_days = q.days_since_last(s["tier"], NEVER_DAYS)
    product_year = q.last_number(s["product"], "product_year", np.nan)
    return {
        "region": _lookup(refs.customers, "region", ids, UNKNOWN),
        "acquisition_channel": _lookup(refs.customers, "acquisition_channel", ids, UNKNOWN),
        "age_years": np.where(np.isnan(birth), np.nan, t_years - birth),
        "month_of_year": t_stamps.month.to_numpy(),
        "partner_id": partner,
        "partner_kind": _lookup(refs.partners, "kind", partner.astype(str), UNKNOWN),
        "contract_cost_per_point": _lookup(
            refs.contracts, "cost_per_point", contract.astype(str), 0.0
        ),
        "tenure_days": np.minimum(first, NEVER_DAYS),
        "tier": q.last_label(s["tier"], "tier", "basic"),
        "days_in_tier": np.minimum(tier_days, np.minimum(first, NEVER_DAYS)),
        "product_model": q.last_label(s["product"], "product_model", UNKNOWN),
        "product_age_years": t_years - product_year,
        "products_registered": q.count(s["product"]),
        "consent_marketing": _consent(tl, q, "marketing"),
        "consent_data_sharing": _consent(tl, q, "data_sharing"),
    }


def _activity(q: Query, s: dict) -> dict:
    out = {
        "days_since_last_activity": q.days_since_last(s["activity"], NEVER_DAYS),
        "days_since_last_purchase": q.days_since_last(s["purchase"], NEVER_DAYS),
        "days_since_last_service": q.days_since_last(s["service"], NEVER_DAYS),
    }
    for w in WINDOWS:
        out[f"activity_{w}d"] = q.count(s["activity"], w)
    for w in WINDOWS[1:]:
        out[f"purchases_{w}d"] = q.count(s["purchase"], w)
        out[f"spend_{w}d"] = q.total(s["purchase"], "amount", w)
    for w in (90, 365):
        out[f"service_visits_{w}d"] = q.count(s["service"], w)
    out["service_spend_365d"] = q.total(s["service"], "amount", 365)
    visits = out["purchases_365d"] + out["service_visits_365d"]
    out["avg_ticket_365d"] = (out["spend_365d"] + out["service_spend_365d"]) / np.maximum(visits, 1)
    out["activity_trend"] = (out["activity_90d"] + 1) / (out["activity_365d"] / 4 + 1)
    return out


def _points(tl: Timeline, q: Query, s: dict) -> dict:
    out = {f"points_earned_{w}d": q.total(s["accrued"], "points", w) for w in (30, 90, 365)}
    out |= {f"points_redeemed_{w}d": q.total(s["redeemed"], "points", w) for w in (90, 365)}
    out["points_balance"] = (
        q.total(s["accrued"], "points")
        - q.total(s["redeemed"], "points")
        - q.total(s["expired"], "points")
    )
    out["redeem_to_earn_365d"] = out["points_redeemed_365d"] / np.maximum(
        out["points_earned_365d"], 1
    )
    out["days_since_last_redemption"] = q.days_since_last(s["redeemed"], NEVER_DAYS)
    out["accrual_velocity_30d"] = out["points_earned_30d"] / 30.0
    out["small_purchases_90d"] = q.count(s["small_purchase"], 90)
    soon = _soon_redemptions(tl, s)
    n_red = q.count(s["redeemed"], 365)
    out["soon_redemption_share_365d"] = q.total(soon, "_soon", 365) / np.maximum(n_red, 1)
    return out


def _soon_redemptions(tl: Timeline, s: dict):
    """Redemptions above the balance held 7 days before (net of expiries): points farmed and
    cashed fast."""
    red = s["redeemed"]
    if tl.has_numbers("_soon"):
        return red
    pos = red.positions
    # pairs straight from timeline codes: no id lookup, already in (customer, time) order
    before = Query(tl, tl.code[pos], tl.time[pos] - int(SOON_DAYS * DAY_US))
    balance = (
        before.total(s["accrued"], "points")
        - before.total(s["redeemed"], "points")
        - before.total(s["expired"], "points")
    )
    tl.derive("_soon", pos, (balance < tl.values_at("points", pos)).astype(np.float64))
    for stream in (s["accrued"], red, s["expired"]):  # per-pair search state: not needed again
        stream.release()
    return red


def _offers_and_risk(q: Query, s: dict) -> dict:
    out = {f"complaints_{w}d": q.count(s["complaint"], w) for w in (90, 365)}
    out["days_since_last_complaint"] = q.days_since_last(s["complaint"], NEVER_DAYS)
    out |= {f"offers_received_{w}d": q.count(s["sent"], w) for w in (30, 90, 365)}
    out["offers_redeemed_365d"] = q.count(s["offer_redeemed"], 365)
    out |= {f"offers_declined_{w}d": q.count(s["declined"], w) for w in (90, 365)}
    rate = out["offers_redeemed_365d"] / np.maximum(out["offers_received_365d"], 1)
    out["offer_response_rate_365d"] = np.minimum(rate, 1.0)
    out["days_since_last_offer"] = q.days_since_last(s["sent"], NEVER_DAYS)
    out["days_since_last_offer_redeemed"] = q.days_since_last(s["offer_redeemed"], NEVER_DAYS)
    out["suspected_flags_365d"] = q.count(s["suspected"], 365)
    return out


def _whole_history(q: Query, s: dict, tenure_days: np.ndarray) -> dict:
    """Habits over the whole history before T: long-tenured customers show them more reliably
    than any one year does (how often they come, what they spend, how they treat points/offers)."""
    visits = q.count(s["visit"])
    per_visit = np.maximum(visits, 1)
    sent = np.maximum(q.count(s["sent"]), 1)
    return {
        "visits_per_year_all": visits * 365.0 / np.maximum(tenure_days, 30.0),
        "avg_ticket_all": q.total(s["visit"], "amount") / per_visit,
        "redemptions_per_visit_all": np.minimum(q.count(s["redeemed"]) / per_visit, 1.0),
        "offers_received_all": q.count(s["sent"]),
        "offer_response_rate_all": np.minimum(q.count(s["offer_redeemed"]) / sent, 1.0),
        "offer_decline_rate_all": np.minimum(q.count(s["declined"]) / sent, 1.0),
    }


def compute_features(
    tl: Timeline, customer_ids, as_of, refs: References | None = None
) -> pd.DataFrame:
    """Features of each (customer, as-of) pair, in FEATURE_NAMES order, with typed columns."""
    refs = refs or References.empty()
    ids = np.asarray(customer_ids)
    q = Query.at(tl, ids, as_of)
    s = _streams(tl)
    values = (
        _identity(tl, q, s, ids, refs)
        | _activity(q, s)
        | _points(tl, q, s)
        | _offers_and_risk(q, s)
    )
    values |= _whole_history(q, s, values["tenure_days"])
    values |= dealer_mix(tl, q, window_days=365)
    frame = pd.DataFrame(
        {"customer_id": ids, "as_of": pd.to_datetime(q.as_of_us, unit="us", utc=True)}
    )
    for name in FEATURE_NAMES:
        frame[name] = _typed(name, values.pop(name))  # pop: never two copies of every column
    return frame


def _typed(name: str, values: np.ndarray) -> pd.Series:
    spec = SPECS[name]
    if spec.dtype == "category":
        cat = pd.Categorical(values)  # hash the labels once; only the few categories become str
        return pd.Series(cat.rename_categories([str(c) for c in cat.categories]))
    if spec.dtype == "int":
        return pd.Series(np.asarray(values).astype(np.int64))
    return pd.Series(np.asarray(values, dtype=np.float64))
