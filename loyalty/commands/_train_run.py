"""The work behind ``loyalty train``: progress, one model after another, a results table."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from loyalty.errors import InputError


def run_training(
    dataset: Path,
    kinds: list[str],
    config_path: Path | None,
    tune: bool,
    tune_budget_s: float | None,
    console: Console,
) -> list:
    from loyalty.settings import load_settings
    from training.config import load_config
    from training.split import SplitError

    quiet_mlflow()
    config = load_config(config_path)
    if tune:
        config.tune.enabled = True
    if tune_budget_s is not None:
        config.tune.time_budget_s = tune_budget_s
    settings = load_settings()
    outcomes = []
    with console.status("starting") as status:
        from training.run import train_kind

        for kind in kinds:
            try:
                outcome = train_kind(dataset, kind, config, settings, status.update)
            except SplitError as exc:
                raise InputError(f"{dataset / kind}: {exc}") from exc
            outcomes.append(outcome)
            console.print(f"[green]✓[/] {kind}: {outcome.registered_name} v{outcome.version}")
    console.print(_table(outcomes))
    console.print(
        f"Tracking store: {settings.tracking_uri} "
        f"(open it with `mlflow ui --backend-store-uri {settings.tracking_uri}`)"
    )
    return outcomes


def quiet_mlflow() -> None:
    """MLflow's INFO lines and download bars bury the command's own progress: errors only."""
    import logging
    import os
    import warnings

    import mlflow  # its import configures its loggers: adjust them after

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger(mlflow.__name__).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*python_model.*CloudPickle.*")


def _table(outcomes: list) -> Table:
    table = Table(title="Holdout (last snapshot); registered with alias challenger")
    for column in ("model", "ver", "rows", "AUC", "oracle", "ratio", "PR AUC", "ECE"):
        table.add_column(column, justify="left" if column == "model" else "right", no_wrap=True)
    for o in outcomes:
        m = o.metrics
        oracle = m.get("oracle_roc_auc")
        table.add_row(
            o.kind,
            str(o.version),
            f"{int(m['rows']):,}",
            f"{m['roc_auc']:.4f}",
            "-" if oracle is None else f"{oracle:.4f}",
            "-" if oracle is None else f"{m['roc_auc'] / oracle:.3f}",
            f"{m['pr_auc']:.4f}",
            f"{m['ece']:.4f}",
        )
    return table
