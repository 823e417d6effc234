"""Behavioural tests of a model on perturbed recent rows: directional and invariance checks.

Each test takes a scoring function (rows in, scores out) and rows, and returns a measured value
with its threshold; nothing here reads files or the registry. A test fails on the rows where the
model misbehaves, so its value says how much (a share of rows, or a score difference).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from monitoring.config import Behaviour, Change, Directional

Scorer = Callable[[pd.DataFrame], np.ndarray]
UNSEEN = "__unseen_level__"


def perturb(frame: pd.DataFrame, change: dict[str, Change]) -> pd.DataFrame:
    """The rows with each named feature changed: ``add`` first, then ``at_most``/``at_least``."""
    out = frame.copy()
    for name, how in change.items():
        values = pd.to_numeric(out[name], errors="coerce").astype("float64")
        if how.add is not None:
            values = values + how.add
        if how.at_most is not None:
            values = values.clip(upper=how.at_most)
        if how.at_least is not None:
            values = values.clip(lower=how.at_least)
        out[name] = values.astype(out[name].dtype) if out[name].dtype.kind in "iu" else values
    return out


def invalid_share(scores: np.ndarray) -> float:
    """Share of scores that are not finite or outside [0, 1]."""
    scores = np.asarray(scores, dtype=np.float64)
    bad = ~np.isfinite(scores) | (scores < 0) | (scores > 1)
    return float(bad.mean()) if len(scores) else 0.0


def directional(score: Scorer, frame: pd.DataFrame, test: Directional) -> dict:
    """Share of rows whose score moves against ``test.direction`` after the change."""
    before = np.asarray(score(frame), dtype=np.float64)
    after = np.asarray(score(perturb(frame, test.change)), dtype=np.float64)
    delta = after - before if test.direction == "up" else before - after
    wrong = delta < -test.tolerance
    worst = float(-delta.min()) if len(delta) else 0.0
    return {
        "name": test.name,
        "value": float(wrong.mean()) if len(wrong) else 0.0,
        "threshold": test.max_violation_share,
        "rows": len(frame),
        "detail": f"{int(wrong.sum())} rows moved {'down' if test.direction == 'up' else 'up'}"
        f" (largest {max(worst, 0.0):.2g})",
    }


def id_effect(score: Scorer, frame: pd.DataFrame) -> float:
    """Largest score change when customer ids change format and the rows change order."""
    base = np.asarray(score(frame), dtype=np.float64)
    other = frame.iloc[::-1].copy()
    for column in ("customer_id", "send_event_id"):
        if column in other.columns:
            other[column] = "ID-" + other[column].astype(str).str.upper().str.zfill(12)
    again = np.asarray(score(other), dtype=np.float64)[::-1]
    diff = np.abs(base - again)
    return float(np.nanmax(diff)) if len(diff) else 0.0


def unseen_levels(frame: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """The rows with every categorical feature set to a level no model has seen."""
    out = frame.copy()
    for name in categorical:
        out[name] = UNSEEN
    return out


def run_behaviour(
    score: Scorer, frame: pd.DataFrame, kind: str, categorical: list[str], config: Behaviour
) -> list[dict]:
    """Every behavioural test that applies to ``kind``, as measured values with thresholds."""
    rows = len(frame)
    scores = np.concatenate([score(frame), score(unseen_levels(frame, categorical))])
    results = [
        {
            "name": "score_range",
            "value": invalid_share(scores),
            "threshold": config.max_invalid_share,
            "rows": 2 * rows,
            "detail": "scores finite and in [0, 1], also with unseen category levels",
        },
        {
            "name": "id_invariance",
            "value": id_effect(score, frame),
            "threshold": config.max_id_effect,
            "rows": rows,
            "detail": "largest score change when ids change format and rows change order",
        },
    ]
    for test in config.directional:
        if kind in test.kinds:
            missing = [c for c in test.change if c not in frame.columns]
            if missing:
                raise ValueError(f"behavioural test {test.name}: no feature(s) {missing}")
            results.append(directional(score, frame, test))
    return results
