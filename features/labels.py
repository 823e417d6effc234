"""Labels for the three model kinds, each on a window that starts strictly after its as-of time.

- churn: no qualifying activity (purchase, service visit, points redemption) in (T, T + H];
- propensity: an offer sent at S is redeemed in (S, S + D];
- risk: the account is confirmed abusive (account_flagged, confirmed) in (T, T + H].
A row is mature only when its whole window lies inside the observed log (window end <= data end);
immature rows are dropped and counted, never labelled as churned.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.query import Query
from features.schema import QUALIFYING_ACTIVITY
from features.timeline import DAY_US, Timeline


def _window_count(tl: Timeline, stream, ids, start_us: np.ndarray, days: float) -> np.ndarray:
    """Stream events in (start, start + days] per pair (+1 µs turns "< t" into "<= t")."""
    upper = Query.at_us(tl, ids, start_us + np.int64(round(days * DAY_US)) + 1).count(stream)
    lower = Query.at_us(tl, ids, start_us + 1).count(stream)
    return upper - lower


def churn_label(
    tl: Timeline, ids: np.ndarray, as_of_us: np.ndarray, horizon_days: float
) -> np.ndarray:
    activity = tl.stream("activity", tuple(QUALIFYING_ACTIVITY))
    return (_window_count(tl, activity, ids, as_of_us, horizon_days) == 0).astype(np.int8)


def risk_label(
    tl: Timeline, ids: np.ndarray, as_of_us: np.ndarray, horizon_days: float
) -> np.ndarray:
    confirmed = tl.stream(
        "confirmed", ("account_flagged",), where=tl.equals("flag_status", "confirmed")
    )
    return (_window_count(tl, confirmed, ids, as_of_us, horizon_days) > 0).astype(np.int8)


def offer_sends(events: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """offer_sent events with start <= occurred_at < end."""
    sent = events[(events["event_type"] == "offer_sent")]
    sent = sent[(sent["occurred_at"] >= start) & (sent["occurred_at"] < end)]
    return sent[["event_id", "customer_id", "offer_id", "occurred_at"]].rename(
        columns={"event_id": "send_event_id", "occurred_at": "sent_at"}
    )


def redemption_label(events: pd.DataFrame, sends: pd.DataFrame, window_days: float) -> np.ndarray:
    """1 where the send is redeemed in (S, S + D]: by ref_event_id, else the same customer and
    offer's first redemption after S."""
    red = events[events["event_type"] == "offer_redeemed"]
    red = red[["customer_id", "offer_id", "occurred_at", "ref_event_id"]]
    window = pd.Timedelta(days=window_days)
    linked = red[red["ref_event_id"].notna()]
    by_ref = sends.merge(
        linked, left_on="send_event_id", right_on="ref_event_id", how="left", suffixes=("", "_red")
    )
    hit_ref = (by_ref["occurred_at"] > by_ref["sent_at"]) & (
        by_ref["occurred_at"] <= by_ref["sent_at"] + window
    )
    hit = pd.Series(hit_ref.to_numpy(), index=by_ref["send_event_id"]).groupby(level=0).any()
    unlinked = red[red["ref_event_id"].isna()]
    if len(unlinked):
        pair = sends.merge(unlinked, on=["customer_id", "offer_id"], suffixes=("", "_red"))
        ok = (pair["occurred_at"] > pair["sent_at"]) & (
            pair["occurred_at"] <= pair["sent_at"] + window
        )
        extra = pd.Series(ok.to_numpy(), index=pair["send_event_id"]).groupby(level=0).any()
        hit = hit.add(extra.reindex(hit.index, fill_value=False), fill_value=False).astype(bool)
    return hit.reindex(sends["send_event_id"]).fillna(False).to_numpy().astype(np.int8)
