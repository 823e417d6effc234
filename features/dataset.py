"""Training sets for churn, propensity and risk: stacked snapshots, point-in-time features, labels.

Pure: frames in, frames out. ``loyalty dataset build`` (and a notebook) read the log, call
``build_datasets`` and write the result; the oracle, when the log is simulated, is attached at that
edge because this package never imports the simulator.

Population at a snapshot T (churn and risk): customers with an event before T, no account_closed
before T, and a qualifying activity or an enrolment in the ``active_within_days`` before T (those
quiet for longer are already lost and would only inflate the churn rate). Risk also drops accounts
already confirmed abusive before T.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.customer import References, compute_features
from features.definitions import CATEGORICAL, FEATURE_NAMES
from features.labels import churn_label, offer_sends, redemption_label, risk_label
from features.offers import NUMERIC, OFFER_COLUMNS, UNKNOWN, as_numbers
from features.query import Query
from features.schema import QUALIFYING_ACTIVITY
from features.timeline import Timeline, to_us

KINDS = ("churn", "propensity", "risk")
OFFER_FEATURES = {
    "offer_type": {
        "name": "offer_type",
        "dtype": "category",
        "min": None,
        "max": None,
        "nullable": False,
        "neutral": "unknown",
    },
    "offer_value": {
        "name": "offer_value",
        "dtype": "float",
        "min": 0.0,
        "max": None,
        "nullable": True,
        "neutral": None,
    },
    "offer_points_cost": {
        "name": "offer_points_cost",
        "dtype": "float",
        "min": 0.0,
        "max": None,
        "nullable": True,
        "neutral": None,
    },
    "offer_valid_days": {
        "name": "offer_valid_days",
        "dtype": "float",
        "min": 0.0,
        "max": None,
        "nullable": True,
        "neutral": None,
    },
    "offer_channel": {
        "name": "offer_channel",
        "dtype": "category",
        "min": None,
        "max": None,
        "nullable": False,
        "neutral": "unknown",
    },
}


class DatasetError(ValueError):
    """The request cannot give a dataset (as-of outside the data, empty log, ...)."""


@dataclass(frozen=True)
class DatasetSpec:
    as_of: tuple[pd.Timestamp, ...]
    horizon_days: float = 90.0
    offer_window_days: float = 14.0
    active_within_days: float = 365.0


@dataclass
class Datasets:
    frames: dict[str, pd.DataFrame]
    feature_names: dict[str, list[str]]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    data_start: pd.Timestamp | None = None
    data_end: pd.Timestamp | None = None
    spec: DatasetSpec | None = None


def _check_spec(events: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.Timestamp, pd.Timestamp]:
    if not len(events):
        raise DatasetError("the event log is empty: nothing to build features from")
    start, end = events["occurred_at"].min(), events["occurred_at"].max()
    for t in spec.as_of:
        if not start < t <= end:
            span = f"{start.isoformat()} to {end.isoformat()}"
            raise DatasetError(f"as-of {t.isoformat()} is outside the data ({span})")
    return start, end


def _population(
    tl: Timeline, t: pd.Timestamp, active_days: float
) -> tuple[np.ndarray, dict[str, int]]:
    ids = tl.customers.to_numpy()
    q = Query.at(tl, ids, t)
    seen = ~np.isnan(q.days_since_first_event())
    closed = q.count(tl.stream("closed", ("account_closed",))) > 0
    recent = q.count(tl.stream("activity", tuple(QUALIFYING_ACTIVITY)), active_days) + q.count(
        tl.stream("enrolment", ("enrollment",)), active_days
    )
    keep = seen & ~closed & (recent > 0)
    counts = {
        "not_yet_seen": int((~seen).sum()),
        "closed": int((seen & closed).sum()),
        "inactive": int((seen & ~closed & (recent == 0)).sum()),
    }
    return ids[keep], counts


def _snapshot_rows(tl, refs, spec, t, end, counts) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids, excluded = _population(tl, t, spec.active_within_days)
    for key, value in excluded.items():
        counts[key] = counts.get(key, 0) + value
    frame = compute_features(tl, ids, t, refs)
    frame.insert(1, "snapshot", t)
    t_us = to_us(frame["as_of"])
    frame["churn"] = churn_label(tl, ids, t_us, spec.horizon_days)
    risk = frame.copy()
    risk["risk"] = risk_label(tl, ids, t_us, spec.horizon_days)
    confirmed = Query.at(tl, ids, t).count(
        tl.stream("confirmed", ("account_flagged",), where=tl.equals("flag_status", "confirmed"))
    )
    return frame, risk[confirmed == 0].drop(columns=["churn"])


def _offer_attributes(rows: pd.DataFrame, offers: pd.DataFrame | None) -> pd.DataFrame:
    table = offers.set_index("offer_id") if offers is not None and len(offers) else pd.DataFrame()
    key = rows["offer_id"].astype(str)

    def pick(col: str, default):
        if col not in table.columns:
            return pd.Series(default, index=rows.index)
        mapped = key.map(table[col].astype(object))
        return mapped.astype(object).where(mapped.notna(), default).set_axis(rows.index)

    for column, feature in OFFER_COLUMNS.items():
        if feature in NUMERIC:
            rows[feature] = as_numbers(pick(column, np.nan))
        else:
            rows[feature] = pick(column, UNKNOWN).astype(str).astype("category")
    return rows


def _propensity_rows(events, tl, refs, offers, spec, end) -> tuple[pd.DataFrame, int]:
    parts = []
    for t in spec.as_of:
        sends = offer_sends(events, t, t + pd.Timedelta(days=spec.horizon_days))
        parts.append(sends.assign(snapshot=t))
    sends = pd.concat(parts, ignore_index=True).drop_duplicates("send_event_id")
    mature = sends["sent_at"] + pd.Timedelta(days=spec.offer_window_days) <= end
    dropped = int((~mature).sum())
    sends = sends[mature].reset_index(drop=True)
    features = compute_features(tl, sends["customer_id"].to_numpy(), sends["sent_at"], refs)
    rows = pd.concat([sends[["snapshot", "send_event_id", "offer_id"]], features], axis=1)
    rows["offer_id"] = rows["offer_id"].astype(str)
    rows = _offer_attributes(rows, offers)
    rows["redeemed"] = redemption_label(events, sends, spec.offer_window_days)
    lead = ["customer_id", "snapshot", "as_of", "send_event_id", "offer_id"]
    return rows[lead + [c for c in rows.columns if c not in lead]], dropped


def _stack(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate snapshots; categories differ between them (a partner joins), and pandas
    would fall back to object columns: make them categorical again over the union."""
    frame = pd.concat(parts, ignore_index=True)
    for name in CATEGORICAL:
        if name in frame.columns and not isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].astype(str).astype("category")
    return frame


def build_datasets(
    events: pd.DataFrame,
    spec: DatasetSpec,
    refs: References | None = None,
    offers: pd.DataFrame | None = None,
) -> Datasets:
    """Stacked point-in-time training sets for the three kinds (see the module docstring)."""
    start, end = _check_spec(events, spec)
    tl = Timeline(events)
    refs = refs or References.empty()
    counts: dict[str, dict[str, int]] = {k: {} for k in KINDS}
    churn_parts, risk_parts = [], []
    horizon = pd.Timedelta(days=spec.horizon_days)
    immature = 0
    for t in spec.as_of:
        if t + horizon > end:
            immature += 1
            continue
        churn, risk = _snapshot_rows(tl, refs, spec, t, end, counts["churn"])
        churn_parts.append(churn)
        risk_parts.append(risk)
    for kind in ("churn", "risk"):
        counts[kind]["immature_snapshots"] = immature
    empty = pd.DataFrame(columns=["customer_id", "snapshot", "as_of", *FEATURE_NAMES])
    frames = {
        "churn": _stack(churn_parts) if churn_parts else empty.assign(churn=[]),
        "risk": _stack(risk_parts) if risk_parts else empty.assign(risk=[]),
    }
    frames["propensity"], dropped = _propensity_rows(events, tl, refs, offers, spec, end)
    counts["propensity"]["immature_rows"] = dropped
    for kind, label in (("churn", "churn"), ("risk", "risk"), ("propensity", "redeemed")):
        counts[kind]["rows"] = len(frames[kind])
        counts[kind]["positives"] = int(frames[kind][label].sum()) if len(frames[kind]) else 0
    names = {
        "churn": list(FEATURE_NAMES),
        "risk": list(FEATURE_NAMES),
        "propensity": [*FEATURE_NAMES, *OFFER_FEATURES],
    }
    return Datasets(
        frames=frames,
        feature_names=names,
        counts=counts,
        data_start=start,
        data_end=end,
        spec=spec,
    )
