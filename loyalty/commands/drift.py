"""``loyalty drift``: an Evidently drift report (HTML for people, JSON for machines)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from loyalty.commands._common import console, handle_errors, print_verbatim, whole
from loyalty.commands._train_run import quiet_mlflow
from loyalty.errors import InputError


class Model(StrEnum):
    churn = "churn"
    propensity = "propensity"
    risk = "risk"


def register(app: typer.Typer) -> None:
    app.command("drift")(drift)


@handle_errors
def drift(
    current: Annotated[
        Path, typer.Option("--current", help="Parquet file or folder of the rows to check.")
    ],
    reference: Annotated[
        Path | None,
        typer.Option(
            "--reference",
            help="Parquet file or folder to compare with; with --model "
            "it defaults to the reference sample logged with the model.",
        ),
    ] = None,
    model: Annotated[
        Model | None,
        typer.Option(
            "--model",
            help="churn, propensity or risk: its features plus prediction "
            "drift, logged to MLflow against the model version.",
        ),
    ] = None,
    alias: Annotated[
        str | None,
        typer.Option(
            "--alias", help="Registry alias of the model (default: champion, else challenger)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for drift.html and drift.json (default: "
            "$LOYALTY_HOME/reports/drift/<UTC time>).",
        ),
    ] = None,
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="Exit 1 when drift is found.")
    ] = False,
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML merged over the shipped thresholds.")
    ] = None,
    max_rows: Annotated[
        int | None,
        typer.Option("--max-rows", min=100, help="Sample cap per side (default from config)."),
    ] = None,
) -> None:
    """Data drift of CURRENT against a reference, with explicit per-feature thresholds.

    Exit 0 when done (drift or not), 1 when drift is found and --fail-on-drift is given, 2 on
    errors. Drift is found when the share of drifted features reaches the configured share, or
    the model's prediction drifts.
    """
    from loyalty.settings import load_settings
    from monitoring.config import load_config

    settings, loaded = load_settings(), load_config(config)
    if max_rows is not None:
        loaded.drift.max_rows = max_rows
    if model is None and alias is not None:
        raise InputError("--alias needs --model")
    for given in (current, reference):
        if given is not None and not given.exists():
            raise InputError(f"{given}: no such file or folder")
    out = out or settings.home / "reports" / "drift" / _stamp()
    with console.status("reading and comparing"):
        if model is None:
            summary = _data_drift(reference, current, loaded, out)
        else:
            summary = _model_drift(settings, model.value, alias, reference, current, loaded, out)
    _print(summary, out)
    if fail_on_drift and summary["drift_found"]:
        raise typer.Exit(code=1)


def _data_drift(reference: Path | None, current: Path, config, out: Path) -> dict:
    from monitoring.drift import write_report
    from monitoring.drift_run import data_drift

    if reference is None:
        raise InputError("give --reference PATH, or --model NAME to use the model's reference")
    snapshot, summary = data_drift(reference, current, config.drift)
    write_report(snapshot, summary, out)
    return summary


def _model_drift(settings, kind: str, alias, reference, current: Path, config, out) -> dict:
    from monitoring.model_reports import drift_report, resolve_model
    from monitoring.registry import connect

    quiet_mlflow()
    client = connect(settings.tracking_uri)
    model = resolve_model(settings, client, kind, alias)
    return drift_report(settings, client, model, current, reference, config, out)


def _print(summary: dict, out: Path) -> None:
    from monitoring.drift import verdict_line

    pred = summary.get("prediction")
    rows = sorted(summary["per_feature"], key=lambda f: -(f["score"] or 0))
    items = [*([pred] if pred else []), *[f for f in rows if f["drifted"]][:20]]
    cells = [(i["feature"], i["type"], f"{i['score']}", f"{i['threshold']}") for i in items]
    table = Table(
        whole("feature", [c[0] for c in cells]),
        whole("type", [c[1] for c in cells]),
        whole("score", [c[2] for c in cells], "right"),
        whole("threshold", [c[3] for c in cells], "right"),
        "verdict",
        title=f"Drifted features ({summary['method']})",
    )
    for item, row in zip(items, cells, strict=True):
        table.add_row(*row, "[bold red]drift[/]" if item["drifted"] else "[green]ok[/]")
    if table.rows:
        console.print(table)
    ref, cur = summary["reference"], summary["current"]
    console.print(
        f"reference {ref['rows_used']:,} of {ref['rows']:,} rows, current {cur['rows_used']:,} "
        f"of {cur['rows']:,} rows"
        + (" (seeded uniform samples)" if ref["sampled"] or cur["sampled"] else "")
    )
    line = verdict_line(summary)
    verdict, _, why = line.partition(": ")
    style = "bold red" if summary["drift_found"] else "green"
    console.print(f"[{style}]{verdict}[/]: {escape(why)}", highlight=False)
    print_verbatim(f"report: {out / 'drift.html'}  summary: {out / 'drift.json'}")
    if summary.get("mlflow_run_id"):
        print_verbatim(f"logged to MLflow run {summary['mlflow_run_id']}")


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
