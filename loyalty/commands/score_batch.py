"""``loyalty score-batch``: churn, risk and per-offer propensity for a whole customer base."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from loyalty.commands._common import console, handle_errors
from loyalty.commands._train_run import quiet_mlflow
from loyalty.errors import InputError


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
    run_score_batch(
        features, out, offers, alias, explain_top, chunk_rows, engine.value, force, console
    )


def run_score_batch(
    features, out, offers_path, alias, explain_top, chunk_rows, engine, force, console: Console
):
    """Load the offers and models (Spark starting meanwhile), score with progress, summarise."""
    from features.atomic import FolderNotEmptyError
    from loyalty.settings import load_settings
    from models.registry import RegistryError
    from serving.batch_run import KINDS, BatchInputError, load_batch_models, load_offers
    from serving.spark_batch import engine_start

    if chunk_rows < 1 or explain_top < 0:
        raise InputError("--chunk-rows must be >= 1 and --explain-top >= 0")
    with engine_start(engine) as spark:  # Spark starts while the offers and models load
        try:
            offers = load_offers(offers_path)
        except BatchInputError as exc:
            raise InputError(f"--offers {exc}") from exc
        kinds = KINDS if offers is not None else ("churn", "risk")
        quiet_mlflow()
        try:
            models = load_batch_models(load_settings(), alias, kinds)
        except RegistryError as exc:
            hint = "train with `loyalty train`, promote with `loyalty promote`"
            raise InputError(f"{exc} ({hint})") from exc
        start = time.perf_counter()
        try:
            job = {"features": features, "out": out, "models": models, "offers": offers}
            job |= {"chunk_rows": chunk_rows, "explain_top": explain_top, "force": force}
            summary = _run_engine(engine, job, console, spark)
        except (BatchInputError, FolderNotEmptyError) as exc:
            raise InputError(str(exc)) from exc
    seconds = time.perf_counter() - start
    console.print(
        f"scored {summary.customers:,} customers and {summary.pairs:,} (customer, offer) pairs "
        f"in {seconds:.1f} s with {', '.join(summary.models.values())} -> {out}"
    )
    if summary.skipped_no_consent:
        console.print(
            f"skipped {summary.skipped_no_consent:,} customers who withdrew data-sharing "
            "consent (nothing of theirs scored or written)"
        )
    if explain_top:
        console.print(
            f"reason codes for the {summary.explained:,} customers most at churn risk: "
            f"{out}/reasons.parquet"
        )
    return summary


def _run_engine(engine: str, job: dict, console: Console, spark=None):
    """``job``: the keyword arguments both engines take (features, out, models, ...)."""
    if engine == "spark":
        from serving.spark_batch import score_batch_spark

        with console.status("scoring on Spark"):
            return score_batch_spark(**job, start=spark)
    import pyarrow.dataset as ds

    from serving.batch_run import score_batch

    features = job["features"]
    total = ds.dataset(str(features), format="parquet").count_rows() if features.exists() else 0
    columns = [BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress("[progress.description]{task.description}", *columns, console=console) as bar:
        task = bar.add_task("scoring customers", total=total)
        return score_batch(**job, advance=lambda rows: bar.advance(task, rows))
