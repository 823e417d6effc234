"""``loyalty monitor run``: drift and quality reports for every champion, with an index page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Column, Table
from rich.text import Text

from loyalty.commands._common import console, handle_errors, print_verbatim, whole
from loyalty.commands._train_run import quiet_mlflow
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
    print_verbatim(f"reports: {folder}  index: {settings.home / 'reports' / 'index.html'}")


def _table(summary: dict) -> Table:
    """One row per kind; every figure whole (never "0.80..." in a log or a narrow terminal)."""
    rows = []
    for m in summary["models"]:
        if m["status"] != "ok":
            rows.append((m["kind"], "-", "-", "-", "-", "-", m["status"], False))
            continue
        h = m["headline"]
        pred = h["prediction_drift"]
        rows.append((
            f"{m['kind']} v{m['model']['version']}", m["window"][:10], f"{h['roc_auc']:.4f}",
            f"{h['ece']:.4f}", f"{h['drifted_share']:.1%}", "-" if pred is None else f"{pred:.3f}",
            "drift found" if m["drift_found"] else "ok", m["drift_found"],
        ))  # fmt: skip
    headers = ("model", "window", "AUC", "ECE", "drifted", "pred PSI")
    columns = [
        whole(h, [r[i] for r in rows], "left" if h == "model" else "right")
        for i, h in enumerate(headers)
    ]
    columns.append(Column("status", overflow="fold"))  # a sentence: it may wrap, never "..."
    table = Table(*columns, title=f"Monitoring run {summary['folder']}", box=box.SIMPLE_HEAD)
    for *cells, drifted in rows:
        status = Text(
            cells[-1], style="bold red" if drifted else "green" if cells[-1] == "ok" else ""
        )
        table.add_row(*cells[:-1], status)
    return table
