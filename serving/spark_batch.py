"""``score-batch --engine spark``: the same scoring on Spark, reading and writing Parquet.

Each Spark task runs ``serving.batch`` on pandas chunks (``mapInPandas``) with the packaged
models loaded once per worker process from files the driver wrote, so results are identical to
the one-machine path row for row (row order aside: compare sorted by key). Local mode by default
(``local[2]``); set ``LOYALTY_SPARK_MASTER`` to use a cluster that sees the same paths.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from functools import cache
from pathlib import Path

import pandas as pd

from features.atomic import atomic_folder
from models.package import ModelPackage
from serving.batch import BatchModel, customer_scores, offer_scores, reason_rows
from serving.batch_run import (
    CUSTOMER_KINDS,
    BatchSummary,
    TopRows,
    needed_columns,
    open_features,
)

ARROW_BATCH_ROWS = 100_000


def spark_session(scratch: Path):
    """A local session bound to 127.0.0.1, without UI, with its scratch space in ``scratch``."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    master = os.environ.get("LOYALTY_SPARK_MASTER", "local[2]")
    return (
        SparkSession.builder.master(master)
        .appName("loyalty-score-batch")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.local.dir", str(scratch / "local"))
        .config("spark.sql.warehouse.dir", str(scratch / "warehouse"))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.legacy.parquet.nanosAsLong", "true")  # pandas writes ns timestamps
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH_ROWS))
        .config("spark.driver.memory", os.environ.get("LOYALTY_SPARK_DRIVER_MEMORY", "4g"))
        .getOrCreate()
    )


@cache
def _package(folder: str) -> ModelPackage:
    """Once per worker process: every task of the worker reuses the loaded booster."""
    return ModelPackage.load(folder)


def _models(specs: dict[str, tuple[str, int, str]]) -> dict[str, BatchModel]:
    return {
        k: BatchModel(k, name, version, _package(folder))
        for k, (name, version, folder) in specs.items()
    }


def _customer_task(specs: dict, kinds: tuple[str, ...]):
    def run(chunks):
        models = _models(specs)
        for chunk in chunks:
            yield customer_scores(chunk, [models[k] for k in kinds])

    return run


def _offer_task(specs: dict, offers: pd.DataFrame):
    def run(chunks):
        model = _models(specs)["propensity"]
        for chunk in chunks:
            yield offer_scores(chunk, offers, model)

    return run


def _schemas(id_type: str, kinds: tuple[str, ...]) -> tuple[str, str]:
    customer = ", ".join(
        [f"customer_id {id_type}"] + [f"{k} double, {k}_model string" for k in kinds]
    )
    offer = f"customer_id {id_type}, offer_id string, propensity double, propensity_model string"
    return customer, offer


def score_batch_spark(
    features: Path,
    out: Path,
    models: dict[str, BatchModel],
    offers: pd.DataFrame | None,
    explain_top: int = 0,
    force: bool = False,
) -> BatchSummary:
    needed = needed_columns(models)
    open_features(features, needed)  # the same checks as the one-machine path, before Spark starts
    summary = BatchSummary(models={k: f"{m.name}/{m.version}" for k, m in models.items()})
    with tempfile.TemporaryDirectory() as scratch, atomic_folder(out, force) as tmp:
        specs = _save_packages(models, Path(scratch) / "models")
        spark = spark_session(Path(scratch))
        try:
            frame = spark.read.parquet(str(features)).select(*needed)
            _write(frame, tmp, specs, models, offers, summary)
            if explain_top:
                summary.explained = _explain(frame, tmp, specs, models, explain_top)
        finally:
            spark.stop()
        (tmp / "summary.json").write_text(json.dumps(summary.__dict__, indent=2) + "\n")
    return summary


def _save_packages(models: dict[str, BatchModel], folder: Path) -> dict[str, tuple[str, int, str]]:
    return {k: (m.name, m.version, str(m.package.save(folder / k))) for k, m in models.items()}


def _write(frame, tmp: Path, specs, models, offers, summary: BatchSummary) -> None:
    kinds = tuple(k for k in CUSTOMER_KINDS if k in models)
    id_type = frame.schema["customer_id"].dataType.simpleString()
    customer_schema, offer_schema = _schemas(id_type, kinds)
    scored = frame.mapInPandas(_customer_task(specs, kinds), customer_schema)
    scored.write.parquet(str(tmp / "customers"))
    summary.customers = frame.sparkSession.read.parquet(str(tmp / "customers")).count()
    if offers is not None and "propensity" in models:
        pairs = frame.mapInPandas(_offer_task(specs, offers), offer_schema)
        pairs.write.parquet(str(tmp / "offers"))
        summary.pairs = frame.sparkSession.read.parquet(str(tmp / "offers")).count()


def _top_task(specs: dict, top: int):
    """Each partition's ``top`` rows by churn score; the driver then keeps the overall top."""

    def run(chunks):
        model = _models(specs)["churn"]
        best = TopRows(top)
        for chunk in chunks:
            best.add(chunk, model.package.predict(chunk))
        rows = best.rows()
        if len(rows):
            yield rows

    return run


def _explain(frame, tmp: Path, specs, models, top: int) -> int:
    """Reason codes for the ``top`` rows by churn score, chosen exactly as the local path does."""
    candidates = frame.mapInPandas(_top_task(specs, top), frame.schema).toPandas()
    best = TopRows(top)
    best.add(candidates, models["churn"].package.predict(candidates))
    rows = best.rows()
    parts = [reason_rows(rows, models[k]) for k in CUSTOMER_KINDS if k in models]
    pd.concat(parts, ignore_index=True).to_parquet(tmp / "reasons.parquet", index=False)
    return len(rows)
