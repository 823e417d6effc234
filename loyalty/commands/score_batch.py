"""``loyalty score-batch``: churn, risk and per-offer propensity for a whole customer base."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from loyalty.commands._common import console, handle_errors


class Engine(StrEnum):
    local = "local"
    spark = "spark"


def register(app: typer.Typer) -> None:
    app.command("score-batch")(score_batch)


@handle_errors
def score_batch(
    features: Annotated[
        Path,
        typer.Option(
            "--features",
            help="Parquet file or folder: customer_id plus the models' customer features "
            "(e.g. `loyalty features materialize --out`, or a dataset's churn/data).",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output folder (written atomically).")],
    offers: Annotated[
        Path | None,
        typer.Option(
            "--offers",
            help="Offers (and contracts) reference tables: a folder such as simulate output or "
            "its reference/; without it, propensity is skipped.",
        ),
    ] = None,
    alias: Annotated[str, typer.Option("--alias", help="Registry alias to score with.")] = (
        "champion"
    ),
    explain_top: Annotated[
        int,
        typer.Option("--explain-top", help="Reason codes for the N customers most at churn risk."),
    ] = 0,
    chunk_rows: Annotated[int, typer.Option("--chunk-rows", help="Rows per chunk.")] = 250_000,
    engine: Annotated[Engine, typer.Option("--engine", help="local or spark.")] = Engine.local,
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty --out.")] = False,
) -> None:
    """Score every customer (and every candidate offer) with the models behind an alias."""
    from loyalty.commands._score_batch_run import run_score_batch

    run_score_batch(
        features, out, offers, alias, explain_top, chunk_rows, engine.value, force, console
    )
