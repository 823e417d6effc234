"""``loyalty dataset build``: point-in-time features and labels for the three model kinds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from loyalty.commands._common import console, handle_errors
from loyalty.commands._dataset_run import run_build

app = typer.Typer(help="Build point-in-time training sets.", no_args_is_help=True)


@app.command("build")
@handle_errors
def build(
    events: Annotated[
        Path,
        typer.Option("--events", help="Event log: CSV/Parquet file, folder, or simulate output."),
    ],
    as_of: Annotated[
        list[str],
        typer.Option("--as-of", help="Snapshot date (repeatable); bare date = 00:00 UTC."),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    horizon: Annotated[
        str, typer.Option("--horizon", help="Label horizon, e.g. 90d or 12w.")
    ] = "90d",
    offer_window: Annotated[
        str, typer.Option("--offer-window", help="Redemption window after a send.")
    ] = "14d",
    active_within: Annotated[
        str,
        typer.Option(
            "--active-within", help="Population: active or enrolled within this before T."
        ),
    ] = "365d",
    reference: Annotated[
        Path | None,
        typer.Option("--reference", help="Folder of customers/partners/contracts/offers tables."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty --out.")] = False,
) -> None:
    """Write DIR/churn, DIR/propensity, DIR/risk: data/ (Parquet) and feature_contract.json each."""
    run_build(events, as_of, out, horizon, offer_window, active_within, reference, force, console)
