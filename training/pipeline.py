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

from loyalty.errors import InputError
from models.package import feature_matrix
from training import tracking
from training.config import TrainConfig
from training.data import TrainingSet, check_split_sizes, load_training_set
from training.fit import calibrated_package, fit_booster, fit_threads, lgb_params, trim
from training.split import Split, SplitError, time_split

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
    from sklearn.metrics import roc_auc_score

    from training.tune import tune

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
