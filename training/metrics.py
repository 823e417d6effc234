"""Evaluation metrics: pure functions of labels and scores.

ECE uses 10 equal-width probability bins weighted by their row counts (the usual definition);
capture and lift are taken at the top 10% of scores; for rare-event models (risk) precision at
the review capacity says how many of the cases humans would see are real.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from models.calibration import expected_calibration_error

TOP_SHARE = 0.10


def _top(score: np.ndarray, share: float) -> np.ndarray:
    """Indices of the top ``share`` of rows by score (ties broken by position: stable)."""
    k = max(1, round(len(score) * share))
    return np.argsort(-score, kind="stable")[:k]


def capture_at(label: np.ndarray, score: np.ndarray, share: float = TOP_SHARE) -> float:
    """Share of all positives found in the top ``share`` of scores."""
    positives = label.sum()
    return float(label[_top(score, share)].sum() / positives) if positives else float("nan")


def precision_at(label: np.ndarray, score: np.ndarray, share: float) -> float:
    return float(label[_top(score, share)].mean())


def lift_at(label: np.ndarray, score: np.ndarray, share: float = TOP_SHARE) -> float:
    base = label.mean()
    return float(precision_at(label, score, share) / base) if base else float("nan")


def evaluate(label, score, review_share: float | None = None) -> dict[str, float]:
    """The metric set of one split; both classes must be present."""
    label = np.asarray(label, dtype=np.int64)
    score = np.asarray(score, dtype=np.float64)
    out = {
        "roc_auc": float(roc_auc_score(label, score)),
        "pr_auc": float(average_precision_score(label, score)),
        "brier": float(brier_score_loss(label, score)),
        "ece": expected_calibration_error(label, score),
        "capture_at_10pct": capture_at(label, score),
        "lift_at_10pct": lift_at(label, score),
        "positive_rate": float(label.mean()),
        "mean_score": float(score.mean()),
        "rows": float(len(label)),
    }
    if review_share is not None:
        out["precision_at_review"] = precision_at(label, score, review_share)
        out["capture_at_review"] = capture_at(label, score, review_share)
    return out
