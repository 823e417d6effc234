"""The simulator's truth for the rows of a dataset: ``oracle.parquet`` beside each kind's data.

For each row, the true probability of exactly that row's label (as-of, horizon, offer window).
It is written beside the data and only ever read to report ``oracle_roc_auc``.
"""

from __future__ import annotations

import pandas as pd

from features.dataset import Datasets, DatasetSpec
from simulator.truth import Truth


def oracle_frames(datasets: Datasets, spec: DatasetSpec, truth: Truth) -> dict[str, pd.DataFrame]:
    out = {}
    for kind, frame in datasets.frames.items():
        if kind == "propensity":
            keys = frame[["customer_id", "as_of", "send_event_id"]].copy()
            keys["oracle"] = (
                truth.redemption_probability(
                    frame["customer_id"].to_numpy(),
                    frame["offer_id"].astype(str).to_numpy(),
                    frame["as_of"],
                    spec.offer_window_days,
                )
                if len(frame)
                else []
            )
        else:
            keys = frame[["customer_id", "snapshot"]].copy()
            fn = truth.churn_probability if kind == "churn" else truth.abuse_probability
            keys["oracle"] = _by_snapshot(frame, fn, spec.horizon_days)
        out[kind] = keys
    return out


def _by_snapshot(frame: pd.DataFrame, fn, horizon: float) -> pd.Series:
    result = pd.Series(index=frame.index, dtype=float)
    for t, rows in frame.groupby("snapshot"):
        result.loc[rows.index] = fn(rows["customer_id"].to_numpy(), t, horizon)
    return result
