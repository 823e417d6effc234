"""The work behind ``loyalty train``: progress, one model after another, a results table."""

from __future__ import annotations

import logging
import os
import warnings
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
    keep_going: bool = False,
) -> list:
    """Train each kind in turn; with ``keep_going`` a kind whose data cannot be trained on
    (too few rows, one class) is reported and skipped instead of stopping the rest."""
    from loyalty.settings import load_settings
    from training.config import load_config

    quiet_mlflow()
    config = load_config(config_path)
    if tune:
        config.tune.enabled = True
    if tune_budget_s is not None:
        config.tune.time_budget_s = tune_budget_s
    settings = load_settings()
    outcomes = []
    with console.status("starting") as status:
        from training.run import RegistryTarget, train_kind

        target = RegistryTarget(
            settings.tracking_uri, settings.artifacts_dir, settings.model_name_prefix
        )

        for kind in kinds:
            try:
                outcome = train_kind(dataset, kind, config, target, status.update)
            except InputError as exc:
                if not keep_going:
                    raise
                console.print(f"[yellow]skipped {kind}:[/] {exc}")
                continue
            outcomes.append(outcome)
            console.print(f"[green]✓[/] {kind}: {outcome.registered_name} v{outcome.version}")
            for warning in outcome.warnings:
                console.print(f"[yellow]warning[/] {kind}: {warning}")
    if outcomes:
        console.print(_table(outcomes))
    console.print(  # one line, however long: the command is copied from logs
        f"Tracking store: {settings.tracking_uri} "
        f"(open it with `mlflow ui --backend-store-uri {settings.tracking_uri}`)",
        soft_wrap=True,
        markup=False,
    )
    return outcomes


def existing_challengers(dataset: Path, settings) -> dict[str, str]:
    """Per kind, the challenger already trained on exactly this dataset (name and version)."""
    quiet_mlflow()
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from training.data import dataset_fingerprint

    uri = settings.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return {}  # no registry yet: nothing to reuse (and do not create one here)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    found = {}
    for kind in ("churn", "propensity", "risk"):
        name = settings.model_name(kind)
        try:
            version = client.get_model_version_by_alias(name, "challenger")
        except MlflowException:
            continue
        if version.tags.get("dataset_fingerprint") == dataset_fingerprint(dataset, kind):
            found[kind] = f"{name} v{version.version}"
    return found


def quiet_mlflow() -> None:
    """MLflow's INFO lines and download bars bury the command's own progress: errors only."""
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
