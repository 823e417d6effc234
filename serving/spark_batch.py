"""``score-batch --engine spark``: the same scoring, distributed by Spark over Parquet row groups.

Spark schedules one task per row group of the input (retried on failure, spread over every
executor of a cluster). Each task reads its row group with Arrow, scores it with the packaged
models (loaded once per Python worker) through the same ``serving.batch`` functions as the
one-machine path, and writes its own part files, so results are identical row for row (row
order aside: compare sorted by key). No feature or score row crosses the JVM: in local mode the
JVM's Parquet read and the Arrow hand-overs to and from Python cost more than the scoring itself.
Local mode by default (``local[2]``); set ``LOYALTY_SPARK_MASTER`` to use a cluster whose
executors see the same paths.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
from pyarrow import fs

from features.atomic import atomic_folder
from models.package import ModelPackage
from serving.batch import BatchModel, customer_scores, offer_scores
from serving.batch_run import (
    CUSTOMER_KINDS,
    BatchSummary,
    TopRows,
    consent_filter,
    explain_rows,
    needed_columns,
    open_features,
    withdrawn_rows,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def spark_session(scratch: Path) -> SparkSession:
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
        .config("spark.driver.memory", os.environ.get("LOYALTY_SPARK_DRIVER_MEMORY", "4g"))
        .config("spark.python.daemon.module", "serving.spark_daemon")  # workers fork warm
        # each task is one core: LightGBM's OpenMP threads on top of Spark's tasks oversubscribe
        .config(
            "spark.executorEnv.OMP_NUM_THREADS", os.environ.get("LOYALTY_SPARK_TASK_THREADS", "1")
        )
        .getOrCreate()
    )


class SparkStart:
    """A Spark session started in the background: the JVM, then one warm-up task that makes
    the Python daemon import the scoring code, all while the driver loads the models (start-up
    and model loading each take ~7-10 s here and use one core each). Stops the session on exit."""

    def __init__(self) -> None:
        self._scratch = tempfile.TemporaryDirectory(prefix="loyalty-spark-")
        self._session: SparkSession | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._start, name="spark-start", daemon=True)

    def __enter__(self) -> SparkStart:
        self._thread.start()
        return self

    def _start(self) -> None:
        try:
            self._session = session = spark_session(Path(self._scratch.name))
            session.sparkContext.parallelize([0], 1).map(lambda x: x).collect()
        except BaseException as exc:  # raised in the caller's thread by session()
            self._error = exc

    def session(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._session

    def __exit__(self, *exc: object) -> None:
        self._thread.join()
        if self._session is not None:
            self._session.stop()
        self._scratch.cleanup()


def engine_start(engine: str) -> contextlib.AbstractContextManager:
    """Spark starts (``local``: nothing) while the caller loads the offers and models."""
    return SparkStart() if engine == "spark" else contextlib.nullcontext()


@dataclass(frozen=True)
class Piece:
    """One row group of one input file: the unit of work of a Spark task."""

    number: int
    path: str
    row_group: int


@dataclass(frozen=True)
class Job:
    """What every task needs, shipped once with the task closure."""

    specs: dict[str, tuple[str, int, str]]  # kind -> (name, version, package folder)
    schema: pa.Schema  # the input's unified schema: every file read as the local path reads it
    columns: list[str]
    offers: pd.DataFrame | None
    out: str
    chunk_rows: int
    explain_top: int


@dataclass
class PieceResult:
    customers: int
    pairs: int
    top: pd.DataFrame  # the piece's best rows to explain, with their churn score in ``_score``


@cache
def _package(folder: str) -> ModelPackage:
    """Once per worker process: every task of the worker reuses the loaded booster."""
    return ModelPackage.load(folder)


def _models(specs: dict[str, tuple[str, int, str]]) -> dict[str, BatchModel]:
    return {
        k: BatchModel(k, name, version, _package(folder))
        for k, (name, version, folder) in specs.items()
    }


def score_piece(job: Job, piece: Piece) -> PieceResult:
    """Read, score and write one row group, chunk by chunk (memory bounded by the chunk)."""
    models = _models(job.specs)
    kinds = [models[k] for k in CUSTOMER_KINDS if k in models]
    fragment = ds.ParquetFileFormat().make_fragment(
        piece.path, fs.LocalFileSystem(), row_groups=[piece.row_group]
    )
    batches = fragment.to_batches(
        schema=job.schema,
        columns=job.columns,
        filter=consent_filter(job.schema),  # the same rule as the one-machine path
        batch_size=job.chunk_rows,
    )
    result, top = PieceResult(0, 0, pd.DataFrame()), TopRows(job.explain_top)
    for n, batch in enumerate(batches):
        chunk, name = batch.to_pandas(), f"part-{piece.number:05d}-{n:04d}.parquet"
        scored = customer_scores(chunk, kinds)
        _write(scored, Path(job.out) / "customers" / name)
        result.customers += len(scored)
        if job.offers is not None:
            pairs = offer_scores(chunk, job.offers, models["propensity"])
            _write(pairs, Path(job.out) / "offers" / name)
            result.pairs += len(pairs)
        if top.size and "churn" in scored:
            top.add(chunk, scored["churn"].to_numpy())
    result.top = top.scored()
    return result


def _write(frame: pd.DataFrame, path: Path) -> None:
    """Whole or not at all: a retried or duplicated task replaces the part with the same rows,
    and a task killed mid-write leaves only a hidden file that readers skip."""
    hidden = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    try:
        frame.to_parquet(hidden, index=False)
        hidden.replace(path)
    finally:
        hidden.unlink(missing_ok=True)


def pieces_of(dataset) -> list[Piece]:
    """Every row group of every file, numbered in the dataset's order."""
    groups = [
        (part.path, part.row_groups[0].id)
        for frag in dataset.get_fragments()
        for part in frag.split_by_row_group()
    ]
    return [Piece(n, path, rg) for n, (path, rg) in enumerate(groups)]


def score_batch_spark(
    features: Path,
    out: Path,
    models: dict[str, BatchModel],
    offers: pd.DataFrame | None,
    explain_top: int = 0,
    force: bool = False,
    chunk_rows: int = 250_000,
    start: SparkStart | None = None,
) -> BatchSummary:
    """Score on Spark; ``start``: a session already starting (else one is started here)."""
    if start is None:
        with SparkStart() as started:
            return score_batch_spark(
                features, out, models, offers, explain_top, force, chunk_rows, started
            )
    needed = needed_columns(models)
    dataset = open_features(features, needed)  # the same checks as the one-machine path
    pieces = pieces_of(dataset)
    summary = BatchSummary(models={k: f"{m.name}/{m.version}" for k, m in models.items()})
    summary.skipped_no_consent = withdrawn_rows(dataset)
    with_offers = offers if offers is not None and "propensity" in models else None
    with tempfile.TemporaryDirectory() as scratch, atomic_folder(out, force) as tmp:
        (tmp / "customers").mkdir()
        if with_offers is not None:
            (tmp / "offers").mkdir()
        specs = _save_packages(models, Path(scratch) / "models")
        job = Job(
            specs, dataset.schema, list(needed), with_offers, str(tmp), chunk_rows, explain_top
        )
        results = _run(job, pieces, start)
        _drop_hidden(tmp)
        top = TopRows(explain_top)
        for r in results:
            summary.customers += r.customers
            summary.pairs += r.pairs
            if len(r.top):
                top.add(r.top.drop(columns="_score"), r.top["_score"].to_numpy())
        if explain_top:
            summary.explained = explain_rows(tmp, top.rows(), models)
        (tmp / "summary.json").write_text(json.dumps(summary.__dict__, indent=2) + "\n")
    return summary


def _run(job: Job, pieces: list[Piece], start: SparkStart) -> list[PieceResult]:
    """One Spark task per piece; the driver only gathers the small per-piece results."""
    if not pieces:
        return []
    rdd = start.session().sparkContext.parallelize(pieces, len(pieces))
    return rdd.map(lambda piece: score_piece(job, piece)).collect()


def _save_packages(models: dict[str, BatchModel], folder: Path) -> dict[str, tuple[str, int, str]]:
    return {k: (m.name, m.version, str(m.package.save(folder / k))) for k, m in models.items()}


def _drop_hidden(tmp: Path) -> None:
    """Leftovers of task attempts that died mid-write (their retries wrote the parts)."""
    for part in (tmp / "customers", tmp / "offers"):
        for stray in part.glob(".part-*") if part.exists() else ():
            stray.unlink()
