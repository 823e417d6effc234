"""``loyalty promote MODEL`` (the promotion gate) and ``loyalty rollback MODEL``."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Column, Table

from loyalty.commands._common import console, handle_errors, whole
from loyalty.commands._train_run import quiet_mlflow
from loyalty.errors import InputError

if TYPE_CHECKING:
    from monitoring.gate_result import GateResult
    from monitoring.promotion import Promotion


class Model(StrEnum):
    churn = "churn"
    propensity = "propensity"
    risk = "risk"


def register(app: typer.Typer) -> None:
    app.command("promote")(promote)
    app.command("rollback")(rollback)


@handle_errors
def promote(
    model: Annotated[Model, typer.Argument(help="churn, propensity or risk.")],
    dataset: Annotated[
        Path,
        typer.Option(
            "--dataset",
            help="Folder written by `loyalty dataset build`; its last "
            "snapshot is the recent labelled window both models are judged on.",
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Evaluate and print; record and move nothing.")
    ] = False,
    approved_by: Annotated[
        str | None,
        typer.Option("--approved-by", hidden=True, help="Removed: see LOYALTY_OPERATOR."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="YAML merged over the shipped gate thresholds."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the gate result as JSON here.")
    ] = None,
) -> None:
    """Gate the challenger; on pass it becomes `champion` and the old champion `previous`.

    Exit 0 promoted (or a dry run that passed), 1 the gate failed, 2 an error.
    """
    from loyalty.settings import load_settings
    from monitoring.config import load_config
    from monitoring.gate import GateRequest, evaluate
    from monitoring.registry import connect

    if approved_by is not None:
        raise InputError(
            "--approved-by is gone: a promotion is recorded under the configured operator "
            "identity (set LOYALTY_OPERATOR), never a name given per command"
        )
    if not dataset.is_dir():
        raise InputError(f"--dataset {dataset} is not a folder")
    settings, loaded = load_settings(), load_config(config)
    quiet_mlflow()
    client = connect(settings.tracking_uri)
    # the approver of record is the configured operator identity (an OS login is no one's
    # approval)
    approver = (settings.operator or "").strip() or None
    request = GateRequest(model.value, dataset, loaded, approver, str(config) if config else None)
    with console.status("gate") as status:
        result = evaluate(settings, client, request, status.update)
        outcome = None
        if not dry_run:
            from monitoring.promotion import act

            status.update(f"{model.value}: recording the gate run")
            outcome = act(client, settings, result)
    console.print(checks_table(result))
    for line in notes(result):
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(gate_document(result, outcome), indent=2, default=str) + "\n")
    _conclude(result, outcome)


def gate_document(result: GateResult, outcome: Promotion | None) -> dict:
    """The JSON written for people and tools: the gate's result, whether it was a dry run
    (nothing recorded or moved), and what acting on it did."""
    done = {} if outcome is None else outcome.to_dict()
    return {**result.to_dict(), "dry_run": outcome is None, **done}


def _conclude(result: GateResult, outcome: Promotion | None) -> None:
    """A dry run has no outcome: nothing was recorded or moved."""
    name, version = result.model, result.challenger.version
    if not result.passed:
        console.print(
            f"[bold red]gate failed[/] for {name} v{version}: {', '.join(result.failed)}"
            + ("" if outcome is None else f" (gate run {outcome.gate_run_id})")
        )
        raise typer.Exit(code=1)
    if outcome is None:
        console.print(f"[bold green]gate passed[/] for {name} v{version} (dry run: nothing moved)")
        return
    before = outcome.previous
    console.print(
        f"[bold green]promoted[/] {name} v{version} to champion"
        + (f"; previous: v{before}" if before is not None else " (first champion)")
        + f" (gate run {outcome.gate_run_id})"
    )


def checks_table(result: GateResult) -> Table:
    """Every check: value, threshold, verdict and the rows it was computed on."""
    champion = result.champion
    title = (
        f"Gate: {result.model} v{result.challenger.version} vs "
        + (f"champion v{champion.version}" if champion else "no champion")
        + f" on {result.rows:,} rows of {result.window[:10]}"
    )
    styles = {"pass": "green", "fail": "bold red", "skip": "yellow"}
    rows = []
    for check in result.checks:
        shown = figure(check.threshold)
        if check.threshold is not None and check.comparison not in ("-", "=="):
            shown = f"{check.comparison} {shown}"
        rows.append((check.name, figure(check.value), shown, check.verdict, f"{check.rows:,}"))
    checks = zip(rows, result.checks, strict=True)
    figures = [len(r[2]) for r, c in checks if c.comparison != "=="]
    # names and figures whole, whatever the width (a log, a pipe, a narrow terminal)
    table = Table(
        whole("check", [r[0] for r in rows]),
        whole("value", [r[1] for r in rows], "right"),
        # figures whole; a list of approvers may fold
        Column("threshold", justify="right", overflow="fold", min_width=max(figures, default=0)),
        whole("verdict", [r[3] for r in rows]),
        whole("rows", [r[4] for r in rows], "right"),
        title=title,
        box=box.SIMPLE_HEAD,
        min_width=len(title),  # the title on one line
    )
    for name, value, shown, verdict, rows_used in rows:
        table.add_row(name, value, shown, f"[{styles[verdict]}]{verdict}[/]", rows_used)
    return table


def notes(result: GateResult) -> list[str]:
    """The detail of every check that did not simply pass."""
    return [
        f"{c.name} ({c.verdict}): {c.detail}"
        for c in result.checks
        if c.verdict != "pass" and c.detail
    ]


def figure(value) -> str:
    """A check's value or threshold as the gate table shows it."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


@handle_errors
def rollback(
    model: Annotated[Model, typer.Argument(help="churn, propensity or risk.")],
) -> None:
    """Restore the previous champion: `champion` goes back to the version `previous` names.

    Exit 0 rolled back, 2 when there is no previous champion or the registry is unreachable.
    """
    from loyalty.settings import load_settings
    from monitoring.promotion import rollback as roll_back
    from monitoring.registry import connect

    settings = load_settings()
    quiet_mlflow()
    client = connect(settings.tracking_uri)
    done = roll_back(client, settings, model.value)
    console.print(
        f"[bold green]rolled back[/] {done['model']}: champion v{done['demoted']} -> "
        f"v{done['restored']} (run {done['run_id']})"
    )
