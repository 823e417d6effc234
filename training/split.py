"""Time-based splits: train on earlier snapshots, early-stop on a later one, hold out the last.

With snapshots S1 < ... < Sk (k >= 3): the holdout is Sk, untouched until evaluation; the
validation snapshot S(k-1) drives early stopping; S1..S(k-2) train. Calibration gets its own
fold: a seeded fifth of the customers, across S1..S(k-1), whose rows neither train nor stop the
booster. Spreading it over every pre-holdout snapshot keeps one season's base rate from being
baked into the calibrator (calibrating on S(k-1) alone made a well-calibrated booster worse on a
holdout from another season).

Rows whose label window reaches past the start of a later split are embargoed (dropped), so no
label peeks into the period the next split is evaluated on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SPLITS = ("train", "early_stop", "calibration", "holdout")
MIN_SNAPSHOTS = 3
CALIBRATION_SHARE = 5  # one customer in five


class SplitError(ValueError):
    """The dataset cannot be split honestly (too few snapshots)."""


@dataclass(frozen=True)
class Split:
    assignment: np.ndarray  # per row: index into SPLITS, -1 for embargoed rows
    snapshots: tuple[pd.Timestamp, ...]
    embargoed: int

    def mask(self, name: str) -> np.ndarray:
        return self.assignment == SPLITS.index(name)

    def counts(self) -> dict[str, int]:
        return {name: int(self.mask(name).sum()) for name in SPLITS}


def customer_bucket(customer_id: pd.Series, seed: int, buckets: int) -> np.ndarray:
    """A stable bucket per customer from a keyed hash of its id (any id format, any order)."""
    key = f"{seed:016d}"[-16:]
    hashed = pd.util.hash_pandas_object(customer_id.astype(str), index=False, hash_key=key)
    return (hashed.to_numpy() % np.uint64(buckets)).astype(np.int64)


def time_split(
    snapshot: pd.Series,
    label_end: pd.Series,
    customer_id: pd.Series,
    seed: int = 0,
) -> Split:
    snaps = tuple(sorted(pd.unique(snapshot)))
    if len(snaps) < MIN_SNAPSHOTS:
        raise SplitError(
            f"a time-based split needs at least {MIN_SNAPSHOTS} snapshots "
            f"(train, validation, holdout); the dataset has {len(snaps)}: "
            "build it with more --as-of dates"
        )
    validation, holdout = snaps[-2], snaps[-1]
    is_holdout = (snapshot == holdout).to_numpy()
    is_validation = (snapshot == validation).to_numpy()
    calibration = customer_bucket(customer_id, seed, CALIBRATION_SHARE) == 0
    assignment = np.select([is_holdout, calibration, is_validation], [3, 2, 1], default=0).astype(
        np.int8
    )
    late = np.where(
        is_validation, (label_end > holdout).to_numpy(), (label_end > validation).to_numpy()
    )
    embargo = ~is_holdout & late
    assignment[embargo] = -1
    return Split(assignment, tuple(pd.Timestamp(s) for s in snaps), int(embargo.sum()))
