"""Probability calibration as plain numbers, so scoring needs no pickled estimator.

Isotonic calibration is stored as its step thresholds and applied with ``np.interp`` (what
scikit-learn's ``IsotonicRegression.predict`` does with ``out_of_bounds="clip"``); sigmoid
(Platt) calibration as two coefficients on the log-odds. Both are non-decreasing, so
calibration never reverses the booster's ranking or a monotone constraint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EPS = 1e-12

ECE_BINS = 10


def expected_calibration_error(label: np.ndarray, score: np.ndarray, bins: int = ECE_BINS) -> float:
    """Row-weighted mean |mean score - positive rate| over equal-width score bins: the one
    definition training's holdout metrics and monitoring's labelled windows share."""
    label = np.asarray(label, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    which = np.minimum((score * bins).astype(np.int64), bins - 1)
    mean_score = np.bincount(which, weights=score, minlength=bins)
    mean_label = np.bincount(which, weights=label, minlength=bins)
    return float(np.abs(mean_score - mean_label).sum() / max(len(score), 1))


@dataclass(frozen=True)
class Calibrator:
    method: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    slope: float = 1.0
    intercept: float = 0.0

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float64)
        if self.method == "isotonic":
            return np.interp(raw, np.asarray(self.x), np.asarray(self.y))
        if self.method == "sigmoid":
            return 1.0 / (1.0 + np.exp(-(self.slope * _logit(raw) + self.intercept)))
        if self.method == "none":
            return raw
        raise ValueError(f"unknown calibration method {self.method!r}")

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "x": list(self.x),
            "y": list(self.y),
            "slope": self.slope,
            "intercept": self.intercept,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Calibrator:
        return cls(
            method=data["method"],
            x=tuple(data.get("x", ())),
            y=tuple(data.get("y", ())),
            slope=float(data.get("slope", 1.0)),
            intercept=float(data.get("intercept", 0.0)),
        )


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def fit_calibrator(method: str, raw: np.ndarray, label: np.ndarray) -> Calibrator:
    """Fit on a fold the booster never saw (the caller's job), so calibration is honest."""
    if method == "none":
        return Calibrator("none")
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, label)
        return Calibrator(
            "isotonic",
            x=tuple(float(v) for v in iso.X_thresholds_),
            y=tuple(float(v) for v in iso.y_thresholds_),
        )
    if method == "sigmoid":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(raw)[:, None], label)
        slope = max(float(model.coef_[0, 0]), 1e-6)  # a non-positive slope would flip ranking
        return Calibrator("sigmoid", slope=slope, intercept=float(model.intercept_[0]))
    raise ValueError(f"unknown calibration method {method!r}; use isotonic, sigmoid or none")
