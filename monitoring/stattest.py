"""PSI on reference deciles, registered with Evidently as the stattest ``psi_quantile``.

Evidently's own ``psi`` bins numerical columns into equal-width bins over the combined range.
Loyalty features are heavy-tailed (spend, points, balances): one large value stretches the range,
nearly every row lands in the first bin, and a 65% shift of the median scores PSI 0.05, below
any threshold (bench/bench_drift.py plants such a shift). The textbook PSI bins on the
reference's quantiles instead, so each bin starts with a tenth of the reference and a shift
anywhere in the distribution moves mass between bins. Columns with at most 20 distinct reference
values (codes, counts of rare events, categories) are compared value by value, as Evidently does.
An empty bin counts as 0.0001 of its side, Evidently's floor, so a new category scores high but
finite. Drift is ``PSI >= threshold`` (0.1 moderate, 0.25 major, the usual reading).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NAME = "psi_quantile"
BINS = 10
DISCRETE_MAX = 20
FLOOR = 1e-4
_registered = False


def shares(reference: pd.Series, current: pd.Series, numerical: bool) -> tuple[np.ndarray, ...]:
    """Share of each side in each bin: reference deciles, or one bin per distinct value."""
    if numerical and reference.nunique() > DISCRETE_MAX:
        ref = reference.to_numpy(dtype=np.float64)
        edges = np.unique(np.quantile(ref, np.linspace(0, 1, BINS + 1)[1:-1]))
        bins = len(edges) + 1
        ref_bins = np.searchsorted(edges, ref, side="right")
        cur_bins = np.searchsorted(edges, current.to_numpy(dtype=np.float64), side="right")
        p = np.bincount(ref_bins, minlength=bins) / max(len(ref), 1)
        q = np.bincount(cur_bins, minlength=bins) / max(len(current), 1)
        return p, q
    keys = pd.Index(pd.unique(pd.concat([reference, current], ignore_index=True)))
    p = reference.value_counts().reindex(keys, fill_value=0).to_numpy() / max(len(reference), 1)
    q = current.value_counts().reindex(keys, fill_value=0).to_numpy() / max(len(current), 1)
    return p, q


def psi(p: np.ndarray, q: np.ndarray) -> float:
    """Population stability index of two distributions over the same bins."""
    p = np.where(p == 0, FLOOR, p)
    q = np.where(q == 0, FLOOR, q)
    return float(np.sum((p - q) * np.log(p / q)))


def quantile_psi(reference: pd.Series, current: pd.Series, feature_type, threshold: float):
    """Evidently's stattest signature: (score, drift detected)."""
    from evidently.legacy.core import ColumnType

    p, q = shares(reference, current, feature_type == ColumnType.Numerical)
    score = psi(p, q)
    return score, score >= threshold


def register() -> str:
    """Make ``psi_quantile`` known to Evidently (once per process); returns its name."""
    global _registered
    if not _registered:
        from evidently.legacy.calculations.stattests import StatTest, register_stattest
        from evidently.legacy.core import ColumnType

        test = StatTest(
            name=NAME,
            display_name="PSI (reference deciles)",
            allowed_feature_types=[ColumnType.Numerical, ColumnType.Categorical],
            default_threshold=0.1,
        )
        register_stattest(test, quantile_psi)
        _registered = True
    return NAME
