"""``loyalty train``: fit, evaluate, log and register models as ``challenger``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from loyalty.commands._common import console, handle_errors
from loyalty.commands._train_run import run_training
from loyalty.errors import InputError


class Kind(StrEnum):
    churn = "churn"
    propensity = "propensity"
    risk = "risk"
    all = "all"


def register(app: typer.Typer) -> None:
    app.command("train")(train)


@handle_errors
def train(
    kind: Annotated[Kind, typer.Argument(help="churn, propensity, risk or all.")],
    dataset: Annotated[
        Path, typer.Option("--dataset", help="Folder written by `loyalty dataset build`.")
    ],
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML overrides (see docs/training.md).")
    ] = None,
    tune: Annotated[
        bool, typer.Option("--tune", help="Hyperparameter search (optuna) before the fit.")
    ] = False,
    tune_budget: Annotated[
        str | None, typer.Option("--tune-budget", help="Search time per model, e.g. 300s, 10m.")
    ] = None,
) -> None:
    """Train on earlier snapshots, evaluate on the last, register with alias `challenger`."""
    if not dataset.is_dir():
        raise InputError(f"--dataset {dataset} is not a folder")
    kinds = ["churn", "propensity", "risk"] if kind is Kind.all else [kind.value]
    run_training(dataset, kinds, config, tune, _seconds(tune_budget), console)


def _seconds(text: str | None) -> float | None:
    if text is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.replace(".", "", 1).isdigit() or float(number) <= 0:
        raise InputError(f"--tune-budget {text!r}: expected a positive number with s, m or h")
    return float(number) * units[unit]
