"""The simulator's truth for the rows of a dataset: ``oracle.parquet`` beside each kind's data.

For each row, the true probability of exactly that row's label (as-of, horizon, offer window).
It is written beside the data and only ever read to report ``oracle_roc_auc``.
"""

from __future__ import annotations

import pandas as pd

from features.dataset import Datasets, DatasetSpec
from features.definitions import NEVER_DAYS
from simulator.truth import Truth


def last_seen(frame: pd.DataFrame) -> pd.Series:
    """Each row's last qualifying activity before its as-of time (NaT: none), from its features."""
    days = frame["days_since_last_activity"]
    seen = frame["as_of"] - pd.to_timedelta(days, unit="D")
    return seen.where(days < NEVER_DAYS)


def oracle_frames(datasets: Datasets, spec: DatasetSpec, truth: Truth) -> dict[str, pd.DataFrame]:
    """``oracle``: given what the log shows (the target for models); ``oracle_latent``: given the
    latent state (an upper bound no model can reach)."""
    out = {}
    for kind, frame in datasets.frames.items():
        if kind == "propensity":
            keys = frame[["customer_id", "as_of", "send_event_id"]].copy()
            args = (
                frame["customer_id"].to_numpy(),
                frame["offer_id"].astype(str).to_numpy(),
                frame["as_of"],
                spec.offer_window_days,
            )
            keys["oracle"] = (
                truth.redemption_probability(*args, last_seen=last_seen(frame))
                if len(frame)
                else []
            )
            keys["oracle_latent"] = truth.redemption_probability(*args) if len(frame) else []
        else:
            keys = frame[["customer_id", "snapshot"]].copy()
            if kind == "churn":
                keys["oracle"] = _by_snapshot(
                    frame, truth.churn_probability, spec.horizon_days, True
                )
                keys["oracle_latent"] = _by_snapshot(
                    frame, truth.churn_probability, spec.horizon_days
                )
            else:  # a confirmation closes the account, so the latent state is observable here
                keys["oracle"] = _by_snapshot(frame, truth.abuse_probability, spec.horizon_days)
                keys["oracle_latent"] = keys["oracle"]
        out[kind] = keys
    return out


def _by_snapshot(frame: pd.DataFrame, fn, horizon: float, history: bool = False) -> pd.Series:
    result = pd.Series(index=frame.index, dtype=float)
    for t, rows in frame.groupby("snapshot"):
        extra = {"last_seen": last_seen(rows).to_numpy()} if history else {}
        result.loc[rows.index] = fn(rows["customer_id"].to_numpy(), t, horizon, **extra)
    return result
