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

import numpy as np
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
        # each task is one core: LightGBM's OpenMP threads on top of Spark's tasks oversubscribe
        .config(
            "spark.executorEnv.OMP_NUM_THREADS", os.environ.get("LOYALTY_SPARK_TASK_THREADS", "1")
        )
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


PART = "_part"  # which output a scored row belongs to: one scoring pass yields both


def _score_task(specs: dict, kinds: tuple[str, ...], offers: pd.DataFrame | None, columns):
    """Customer scores and, with offers, (customer, offer) scores from one read of each chunk."""

    def run(chunks):
        models = _models(specs)
        customer_models = [models[k] for k in kinds]
        for chunk in chunks:
            yield _aligned(customer_scores(chunk, customer_models), "customer", columns)
            if offers is not None:
                pairs = offer_scores(chunk, offers, models["propensity"])
                yield _aligned(pairs, "offer", columns)

    return run


def _aligned(frame: pd.DataFrame, part: str, columns: list[str]) -> pd.DataFrame:
    """Every column of the pass, the other output's as nulls of their own type."""
    empty_text = pd.Series([None] * len(frame), dtype=object, index=frame.index)
    out = {PART: part}
    for c in columns[1:]:
        if c in frame.columns:
            out[c] = frame[c]
        else:
            out[c] = empty_text if c.endswith("_model") or c == "offer_id" else np.nan
    return pd.DataFrame(out, index=frame.index)


def _schemas(id_type: str, kinds: tuple[str, ...]) -> tuple[list[str], list[str], list[str], str]:
    """Customer columns, offer columns, and the columns and schema of what the pass yields."""
    customer = ["customer_id", *[c for k in kinds for c in (k, f"{k}_model")]]
    offer = ["customer_id", "offer_id", "propensity", "propensity_model"]
    types = {"customer_id": id_type, PART: "string", "offer_id": "string"}
    types |= {c: "string" for c in [*customer, *offer] if c.endswith("_model")}
    columns = [PART, *customer, *[c for c in offer if c not in customer]]
    schema = ", ".join(f"{c} {types.get(c, 'double')}" for c in columns)
    return customer, offer, columns, schema


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
            scored = _write(frame, tmp, specs, models, offers, summary)
            if explain_top:
                reasons, summary.explained = _explain(frame, scored, models, explain_top)
                reasons.to_parquet(tmp / "reasons.parquet", index=False)
        finally:
            spark.stop()
        (tmp / "summary.json").write_text(json.dumps(summary.__dict__, indent=2) + "\n")
    return summary


def _save_packages(models: dict[str, BatchModel], folder: Path) -> dict[str, tuple[str, int, str]]:
    return {k: (m.name, m.version, str(m.package.save(folder / k))) for k, m in models.items()}


def _write(frame, tmp: Path, specs, models, offers, summary: BatchSummary):
    """One scoring pass, kept in memory and written out as the two tables; returns it."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as sf

    kinds = tuple(k for k in CUSTOMER_KINDS if k in models)
    id_type = frame.schema["customer_id"].dataType.simpleString()
    customer, offer, columns, schema = _schemas(id_type, kinds)
    with_offers = offers if offers is not None and "propensity" in models else None
    task = _score_task(specs, kinds, with_offers, columns)
    scored = frame.mapInPandas(task, schema).persist(StorageLevel.MEMORY_AND_DISK)
    scored.where(sf.col(PART) == "customer").select(*customer).write.parquet(str(tmp / "customers"))
    summary.customers = frame.sparkSession.read.parquet(str(tmp / "customers")).count()
    if with_offers is not None:
        scored.where(sf.col(PART) == "offer").select(*offer).write.parquet(str(tmp / "offers"))
        summary.pairs = frame.sparkSession.read.parquet(str(tmp / "offers")).count()
    return scored


def _explain(frame, scored, models, top: int) -> pd.DataFrame:
    """Reason codes for the ``top`` rows by churn score, chosen exactly as the local path does:
    the best ids come from the scores already computed, their feature rows are scored again on
    the driver (a handful) and ranked with the same ``TopRows``."""
    from pyspark.sql import functions as sf

    best_ids = (
        scored.where(sf.col(PART) == "customer")
        .orderBy(sf.col("churn").desc(), sf.col("customer_id").asc())
        .limit(top)
        .select("customer_id")
    )
    candidates = frame.join(sf.broadcast(best_ids), "customer_id", "left_semi").toPandas()
    candidates = candidates[frame.columns]
    best = TopRows(top)
    best.add(candidates, models["churn"].package.predict(candidates))
    rows = best.rows()
    parts = [reason_rows(rows, models[k]) for k in CUSTOMER_KINDS if k in models]
    return pd.concat(parts, ignore_index=True), len(rows)
