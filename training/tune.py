"""Optional hyperparameter search (optuna) within a time budget, on the early-stopping fold.

The holdout is never seen here; the calibration fold neither. Each trial is a full fit with
early stopping, scored by ROC AUC on the early-stopping fold; the best parameters win.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def search_space(trial) -> dict:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 15, 255, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 20, 2000, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
    }


def tune(
    base_params: dict,
    fit_and_score: Callable[[dict], float],
    seed: int,
    time_budget_s: float,
    max_trials: int,
) -> tuple[dict, list[dict]]:
    """Best parameters and the trial log; the base parameters are always trial 0."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({k: base_params[k] for k in search_space_keys() if k in base_params})

    def objective(trial) -> float:
        return fit_and_score({**base_params, **search_space(trial)})

    study.optimize(objective, n_trials=max_trials, timeout=time_budget_s)
    trials = [
        {"number": t.number, "value": t.value, **t.params}
        for t in study.trials
        if t.value is not None and np.isfinite(t.value)
    ]
    return {**base_params, **study.best_params}, trials


def search_space_keys() -> tuple[str, ...]:
    return (
        "learning_rate",
        "num_leaves",
        "min_data_in_leaf",
        "feature_fraction",
        "bagging_fraction",
        "lambda_l2",
    )
