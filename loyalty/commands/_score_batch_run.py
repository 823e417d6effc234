"""The work behind ``loyalty score-batch``: resolve models and offers, then run an engine."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from loyalty.errors import InputError

KINDS = ("churn", "risk", "propensity")


def load_models(alias: str, kinds: tuple[str, ...] = KINDS) -> dict:
    """Each kind's packaged model behind ``alias``; an unknown alias fails before any work."""
    from loyalty.commands._train_run import quiet_mlflow
    from loyalty.settings import load_settings
    from models.registry import RegistryError, load_by_alias
    from serving.batch import BatchModel

    quiet_mlflow()
    settings = load_settings()
    models = {}
    for kind in kinds:
        name = settings.model_name(kind)
        try:
            loaded = load_by_alias(settings.tracking_uri, name, alias, settings.model_cache_dir)
        except RegistryError as exc:
            hint = "train with `loyalty train`, promote with `loyalty promote`"
            raise InputError(f"{exc} ({hint})") from exc
        models[kind] = BatchModel(kind, name, loaded.version, loaded.package)
    return models


def load_offers(path: Path | None):
    if path is None:
        return None
    from features.io import read_reference_tables
    from serving.batch import candidate_offers

    tables = read_reference_tables(path, ("offers", "contracts"))
    if "offers" not in tables:
        raise InputError(f"--offers {path}: no offers table (offers.parquet or offers.csv)")
    try:
        return candidate_offers(tables["offers"], tables.get("contracts"))
    except ValueError as exc:
        raise InputError(f"--offers {path}: {exc}") from exc


def run_score_batch(
    features, out, offers_path, alias, explain_top, chunk_rows, engine, force, console: Console
):
    from features.atomic import FolderNotEmptyError
    from serving.batch_run import BatchInputError

    if chunk_rows < 1 or explain_top < 0:
        raise InputError("--chunk-rows must be >= 1 and --explain-top >= 0")
    with _engine_start(engine) as spark:  # Spark starts while the offers and models load
        offers = load_offers(offers_path)
        kinds = KINDS if offers is not None else ("churn", "risk")
        models = load_models(alias, kinds)
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
    if explain_top:
        console.print(
            f"reason codes for the {summary.explained:,} customers most at churn risk: "
            f"{out}/reasons.parquet"
        )
    return summary


def _engine_start(engine: str):
    if engine != "spark":
        return contextlib.nullcontext()
    from serving.spark_batch import SparkStart

    return SparkStart()


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
