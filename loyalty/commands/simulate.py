"""``loyalty simulate``: the synthetic OEM loyalty ecosystem."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from loyalty.commands._common import console, handle_errors


def simulate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the ecosystem to.")],
    customers: Annotated[
        int,
        typer.Option(
            "--customers",
            help="Number of customers. Training the risk model needs about 20,000 (its rare "
            "label leaves too few positives in a split below that).",
        ),
    ] = 20_000,  # the demo's size; a literal keeps the simulator (and pandas) out of CLI start-up
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same data).")] = 42,
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            "--scenario",
            help="Drift scenario NAME or NAME@DATE (repeatable): product_launch, seasonal_swing, "
            "partner_onboarding, accrual_change. Without a date it starts 60% into the history.",
        ),
    ] = None,
    start: Annotated[str, typer.Option("--start", help="First month of history (YYYY-MM-DD).")] = (
        "2024-01-01"
    ),
    months: Annotated[int, typer.Option("--months", help="Months of history.")] = 30,
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty --out.")] = False,
    summary: Annotated[
        bool, typer.Option("--summary/--no-summary", help="Print the realism summary afterwards.")
    ] = True,
) -> None:
    """Write a synthetic ecosystem: event log, reference tables, policies and ground truth."""
    from loyalty.commands._sim_report import render_summary, run_with_progress
    from simulator.config import make_config

    cfg = make_config(customers, seed=seed, start=start, months=months, scenarios=scenario or ())
    manifest = run_with_progress(cfg, out, force)
    if summary:
        render_summary(console, out, manifest)
    else:
        console.print(f"wrote {manifest['events']:,} events for {customers:,} customers to {out}")


def register(app: typer.Typer) -> None:
    app.command("simulate")(handle_errors(simulate))
