"""Train one model kind end to end: check, split, fit, calibrate, evaluate, log, register.

Every check that can fail on the user's input runs before fitting, and the registry is reached
before fitting too, so a bad dataset or an unreachable registry costs seconds, not minutes, and
leaves nothing registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from features.errors import InputError
from models.package import feature_matrix
from training import tracking
from training.config import TrainConfig
from training.data import TrainingSet, check_split_sizes, load_training_set
from training.fit import calibrated_package, fit_booster, fit_threads, lgb_params, trim
from training.split import Split, SplitError, time_split
from training.tune import tune

Report = Callable[[str], None]


@dataclass
class TrainOutcome:
    kind: str
    registered_name: str
    version: int
    run_id: str
    metrics: dict[str, float]
    split_counts: dict[str, int]
    best_iteration: int
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Prepared:
    data: TrainingSet
    split: Split
    x: np.ndarray
    train_rows: np.ndarray


def prepare(dataset: Path, kind: str, config: TrainConfig) -> Prepared:
    """Load and check the data, split it in time, subsample the train split if configured."""
    spec = config.spec(kind)
    data = load_training_set(dataset, spec)
    frame = data.frame
    try:
        split = time_split(frame["snapshot"], data.label_end, frame["customer_id"], config.seed)
    except SplitError as exc:
        raise InputError(f"{data.folder}: {exc}") from exc
    masks = {name: split.mask(name) for name in ("train", "early_stop", "calibration", "holdout")}
    check_split_sizes(data.label, masks, data.folder)
    train_rows = np.flatnonzero(masks["train"])
    if config.max_train_rows and len(train_rows) > config.max_train_rows:
        rng = np.random.default_rng(config.seed)
        train_rows = np.sort(rng.choice(train_rows, config.max_train_rows, replace=False))
    x = feature_matrix(data.contract, data.frame, kind)
    return Prepared(data, split, x, train_rows)


def season_gap(prepared: Prepared) -> str | None:
    """Why a seasonal model may be miscalibrated: the holdout's or the early-stopping snapshot's
    calendar month (the latter is also in the calibration fold) is in no training snapshot, so
    what ``month_of_year`` means there was never learned and calibration cannot repair it.
    Measured at 1M customers: a September holdout's churn ECE was 0.10 with Dec/Mar training
    snapshots, 0.026 with an untrained June in the calibration fold, 0.005 with both covered."""
    if "month_of_year" not in prepared.data.contract.names:
        return None
    snaps = prepared.split.snapshots
    train_months = sorted({s.month for s in snaps[:-2]})
    judged = {"holdout": snaps[-1], "early-stopping": snaps[-2]}
    missing = [f"{name} {s.date()}" for name, s in judged.items() if s.month not in train_months]
    if not missing:
        return None
    return (
        f"{' and '.join(missing)} fall in months no training snapshot has (training months "
        f"{train_months}): seasonal effects there cannot be learned and calibration may be off; "
        "add snapshots from the same months a year earlier"
    )


def fit(prepared: Prepared, kind: str, config: TrainConfig, report: Report):
    """The calibrated package (booster trimmed to its best iteration) and its parameters."""
    spec = config.spec(kind)
    data, x, y = prepared.data, prepared.x, prepared.data.label
    stop, cal = prepared.split.mask("early_stop"), prepared.split.mask("calibration")
    train = (x[prepared.train_rows], y[prepared.train_rows])
    threads = fit_threads(config.threads, len(prepared.train_rows))
    params = lgb_params(spec, data.contract, config.seed, threads)
    trials: list[dict] = []
    if config.tune.enabled:
        params, trials = _tune(params, data, train, (x[stop], y[stop]), spec, config, report)
    report(f"{kind}: fitting on {len(train[1]):,} rows")
    booster = trim(fit_booster(params, data.contract, train, (x[stop], y[stop]), spec))
    metadata = _metadata(prepared, spec, params, booster.current_iteration())
    package = calibrated_package(booster, spec, data.contract, (x[cal], y[cal]), metadata)
    return package, params, trials


def _tune(params, data, train, stop, spec, config: TrainConfig, report: Report):
    report(f"{spec.kind}: hyperparameter search (budget {config.tune.time_budget_s:.0f} s)")

    def fit_and_score(candidate: dict) -> float:
        booster = fit_booster(candidate, data.contract, train, stop, spec)
        return float(roc_auc_score(stop[1], booster.predict(stop[0])))

    return tune(
        params, fit_and_score, config.seed, config.tune.time_budget_s, config.tune.max_trials
    )


def _metadata(prepared: Prepared, spec, params: dict, iterations: int) -> dict:
    data = prepared.data
    snaps = [s.isoformat() for s in prepared.split.snapshots]
    return {
        "kind": spec.kind,
        "label": spec.label,
        "label_definition": spec.label_definition,
        "calibration": spec.calibration,
        "snapshots": snaps,
        "train_snapshots": snaps[:-2],
        "validation_snapshot": snaps[-2],
        "holdout_snapshot": snaps[-1],
        "data_window": [data.summary.get("data_start"), data.summary.get("data_end")],
        "dataset_spec": data.summary.get("spec"),
        "dataset": str(data.folder.parent.resolve()),
        "feature_contract_version": data.contract.version,
        "feature_contract_hash": data.contract.hash,
        "lgb_params": params,
        "iterations": iterations,
        "train_rows": len(prepared.train_rows),
        "code_version": tracking.code_version(),
    }
