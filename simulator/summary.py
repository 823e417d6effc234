"""Realism figures of a simulated ecosystem, read back from the files it wrote.

The same figures back the realism tests and the summary ``loyalty simulate`` prints, so a run that
wrote nothing useful cannot print a good summary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

from features.schema import QUALIFYING_ACTIVITY, TIER_ORDER
from simulator.truth import Truth

CHURN_HORIZON_DAYS = 90


def read_log(sim_dir: Path, columns: list[str] | None) -> pd.DataFrame:
    """The whole simulated log (or some columns) as one DataFrame."""
    return (
        ds.dataset(Path(sim_dir) / "events", format="parquet").to_table(columns=columns).to_pandas()
    )


def churn_labels(
    events: pd.DataFrame, customers: np.ndarray, as_of: pd.Timestamp, horizon_days: float
) -> np.ndarray:
    """Realised churn: no qualifying activity in (T, T+H] (the dataset builder's definition)."""
    end = as_of + pd.Timedelta(days=horizon_days)
    qualifying = events["event_type"].isin(list(QUALIFYING_ACTIVITY))
    window = qualifying & (events["occurred_at"] > as_of) & (events["occurred_at"] <= end)
    active = np.unique(events.loc[window, "customer_id"].to_numpy())
    return ~np.isin(customers, active)


def roc_auc(score: np.ndarray, label: np.ndarray) -> float:
    """Rank-based ROC AUC (ties averaged), without pulling in scikit-learn."""
    ranks = pd.Series(score).rank(method="average").to_numpy()
    pos = label.astype(bool)
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def summarize(sim_dir: Path) -> dict[str, float | str]:
    """Shares a reviewer checks against the documented ranges (docs/simulator.md)."""
    sim_dir = Path(sim_dir)
    truth = Truth.load(sim_dir)
    events = read_log(sim_dir, ["event_type", "occurred_at", "customer_id", "tier"])
    end = truth.world.cfg.end
    as_of = end - pd.Timedelta(days=CHURN_HORIZON_DAYS)
    enrolled_days = truth.world.timestamp_to_day(as_of)
    ids = truth.index.to_numpy()[truth.pop.enroll_day <= enrolled_days]
    label = churn_labels(events, ids, as_of, CHURN_HORIZON_DAYS)
    prob = truth.churn_probability(ids, as_of, CHURN_HORIZON_DAYS)
    counts = events["event_type"].value_counts()
    tiers = events.loc[events["event_type"] == "tier_changed"].groupby("customer_id")["tier"].last()
    tier_share = tiers.value_counts().reindex(TIER_ORDER, fill_value=0) / len(truth.index)
    tier_share["basic"] = 1 - tier_share.drop("basic").sum()
    return {
        f"churn rate ({CHURN_HORIZON_DAYS}d before end)": float(label.mean()),
        "mean true churn probability": float(np.nanmean(prob)),
        "oracle churn ROC AUC": roc_auc(prob, label) if 0 < label.mean() < 1 else float("nan"),
        "offer redemption rate": float(
            counts.get("offer_redeemed", 0) / max(counts.get("offer_sent", 1), 1)
        ),
        "points redeemed / accrued": _points_ratio(sim_dir, "points_redeemed"),
        "points expired / accrued": _points_ratio(sim_dir, "points_expired"),
        "abusive accounts share": float(truth.pop.abuser.mean()),
        "tier shares at end (b/s/g/p)": "/".join(f"{tier_share[t]:.2f}" for t in TIER_ORDER),
    }


def _points_ratio(sim_dir: Path, kind: str) -> float:
    log = read_log(sim_dir, ["event_type", "points"])
    sums = log.groupby("event_type", observed=True)["points"].sum()
    return float(sums.get(kind, 0) / max(sums.get("points_accrued", 1), 1))
