"""``loyalty monitor run``: drift and quality reports for every champion, with an index page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from loyalty.commands._common import console, handle_errors
from loyalty.errors import InputError

app = typer.Typer(
    help="Monitoring: drift and quality reports of the champions.", no_args_is_help=True
)


@app.command("run")
@handle_errors
def run(
    dataset: Annotated[
        Path,
        typer.Option(
            "--dataset",
            help="Folder written by `loyalty dataset build`: its last "
            "snapshot is checked for drift, every snapshot for quality.",
        ),
    ],
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML merged over the shipped thresholds.")
    ] = None,
) -> None:
    """Reports into $LOYALTY_HOME/reports/<UTC time>/, index at $LOYALTY_HOME/reports/index.html.

    Exit 0 when the reports are written (whatever they show), 2 on errors or when no model has
    a champion.
    """
    from loyalty.commands._train_run import quiet_mlflow
    from loyalty.settings import load_settings
    from monitoring.config import load_config
    from monitoring.monitor import run_monitor
    from monitoring.registry import connect

    if not dataset.is_dir():
        raise InputError(f"--dataset {dataset} is not a folder")
    settings, loaded = load_settings(), load_config(config)
    quiet_mlflow()
    client = connect(settings.tracking_uri)
    with console.status("monitoring") as status:
        summary = run_monitor(settings, client, dataset, loaded, status.update)
    console.print(_table(summary))
    folder = settings.home / "reports" / summary["folder"]
    console.print(f"reports: {folder}  index: {settings.home / 'reports' / 'index.html'}")


def _table(summary: dict) -> Table:
    table = Table(title=f"Monitoring run {summary['folder']}", box=box.SIMPLE_HEAD)
    for column in ("model", "window", "AUC", "ECE", "drifted", "pred PSI", "status"):
        left = column in ("model", "status")
        table.add_column(column, justify="left" if left else "right", no_wrap=True)
    for m in summary["models"]:
        if m["status"] != "ok":
            table.add_row(m["kind"], "-", "-", "-", "-", "-", m["status"])
            continue
        h = m["headline"]
        pred = h["prediction_drift"]
        table.add_row(
            f"{m['kind']} v{m['model']['version']}",
            m["window"][:10],
            f"{h['roc_auc']:.4f}",
            f"{h['ece']:.4f}",
            f"{h['drifted_share']:.1%}",
            "-" if pred is None else f"{pred:.3f}",
            "[bold red]drift found[/]" if m["drift_found"] else "[green]ok[/]",
        )
    return table
