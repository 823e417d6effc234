"""``score-batch``: the models behind an alias and the candidate offers, loaded once; then, on
one machine, check the input and score it chunk by chunk into Parquet (``spark_batch`` scales out).

Memory stays bounded by the chunk size whatever the number of customers: each chunk is read,
scored and written before the next; only the top customers to explain are kept across chunks.
Output goes to a hidden sibling folder and is moved into place only when complete.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from features.atomic import atomic_folder
from features.io import read_reference_tables
from models.registry import load_by_alias
from serving.batch import (
    OFFER_COLUMNS,
    BatchModel,
    candidate_offers,
    customer_scores,
    offer_scores,
    reason_rows,
)
from serving.settings import ServiceSettings

CUSTOMER_KINDS = ("churn", "risk")
KINDS = ("churn", "risk", "propensity")


class BatchInputError(ValueError):
    """The features, offers or models cannot be scored together; nothing was written."""


def load_batch_models(
    settings: ServiceSettings, alias: str, kinds: tuple[str, ...] = KINDS
) -> dict[str, BatchModel]:
    """Each kind's packaged model behind ``alias``; an unknown alias fails (``RegistryError``)
    before any work."""
    models = {}
    for kind in kinds:
        name = settings.model_name(kind)
        loaded = load_by_alias(settings.tracking_uri, name, alias, settings.model_cache_dir)
        models[kind] = BatchModel(kind, name, loaded.version, loaded.package)
    return models


def load_offers(path: Path | None) -> pd.DataFrame | None:
    """The candidate offers of the reference tables in ``path`` (None without a path)."""
    if path is None:
        return None
    tables = read_reference_tables(path, ("offers", "contracts"))
    if "offers" not in tables:
        raise BatchInputError(f"{path}: no offers table (offers.parquet or offers.csv)")
    try:
        return candidate_offers(tables["offers"], tables.get("contracts"))
    except ValueError as exc:
        raise BatchInputError(f"{path}: {exc}") from exc


@dataclass
class BatchSummary:
    customers: int = 0
    pairs: int = 0
    skipped_no_consent: int = 0  # rows whose customer withdrew data-sharing consent
    explained: int = 0
    models: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def needed_columns(models: dict[str, BatchModel]) -> dict[str, str]:
    """Input column -> contract dtype, over every model (offer attributes come from offers)."""
    needed = {"customer_id": "key"}
    for model in models.values():
        for spec in model.package.contract.features:
            if spec["name"] not in OFFER_COLUMNS.values():
                needed[spec["name"]] = spec["dtype"]
    if "propensity" in models:
        needed["partner_id"] = "category"
    return needed


def check_schema(schema: pa.Schema, needed: dict[str, str], source: Path) -> None:
    problems = [f"missing column {name!r}" for name in needed if name not in schema.names]
    for name, dtype in needed.items():
        if name not in schema.names or dtype == "key":
            continue
        arrow = schema.field(name).type
        if pa.types.is_dictionary(arrow):
            arrow = arrow.value_type
        text = pa.types.is_string(arrow) or pa.types.is_large_string(arrow)
        numeric = pa.types.is_integer(arrow) or pa.types.is_floating(arrow)
        if (dtype == "category" and not text) or (dtype != "category" and not numeric):
            expected = "text" if dtype == "category" else "a number"
            problems.append(f"column {name!r} is {arrow}, expected {expected}")
    if problems:
        raise BatchInputError(f"{source}: " + "; ".join(problems[:10]))


CONSENT_COLUMN = "consent_data_sharing"


def consent_filter(schema: pa.Schema) -> ds.Expression | None:
    """The rows that may be scored: a customer's own partner may use their data unless they
    withdrew data-sharing consent (0); unknown (-1 or null) is not a withdrawal. The scan
    applies it, so a withdrawn customer's features never reach a model or an output. None
    when the input has no consent column (it says nothing either way)."""
    if CONSENT_COLUMN not in schema.names:
        return None
    flag = ds.field(CONSENT_COLUMN)
    return (flag != 0) | flag.is_null()


def withdrawn_rows(dataset: ds.Dataset) -> int:
    """Rows the consent filter leaves out (counted, never scored)."""
    if consent_filter(dataset.schema) is None:
        return 0
    return dataset.count_rows(filter=ds.field(CONSENT_COLUMN) == 0)


def open_features(path: Path, needed: dict[str, str]) -> ds.Dataset:
    if not path.exists():
        raise BatchInputError(f"--features {path} does not exist")
    dataset = ds.dataset(str(path), format="parquet", exclude_invalid_files=True)
    check_schema(dataset.schema, needed, path)
    return dataset


def score_batch(
    features: Path,
    out: Path,
    models: dict[str, BatchModel],
    offers: pd.DataFrame | None,
    chunk_rows: int = 250_000,
    explain_top: int = 0,
    force: bool = False,
    advance: Callable[[int], None] = lambda rows: None,
) -> BatchSummary:
    needed = needed_columns(models)
    dataset = open_features(features, needed)
    summary = BatchSummary(models={k: f"{m.name}/{m.version}" for k, m in models.items()})
    top = TopRows(explain_top)
    with atomic_folder(out, force) as tmp:
        (tmp / "customers").mkdir()
        if offers is not None and "propensity" in models:
            (tmp / "offers").mkdir()
        summary.skipped_no_consent = withdrawn_rows(dataset)
        scan = dataset.to_batches(
            columns=list(needed), filter=consent_filter(dataset.schema), batch_size=chunk_rows
        )
        for number, batch in enumerate(scan):
            chunk = batch.to_pandas()
            _score_chunk(tmp, number, chunk, models, offers, summary, top)
            advance(len(chunk))
        if explain_top:
            summary.explained = explain_rows(tmp, top.rows(), models)
        (tmp / "summary.json").write_text(json.dumps(summary.__dict__, indent=2) + "\n")
    return summary


def _score_chunk(tmp, number, chunk, models, offers, summary, top) -> None:
    scored = customer_scores(chunk, [models[k] for k in CUSTOMER_KINDS if k in models])
    scored.to_parquet(tmp / "customers" / f"part-{number:05d}.parquet", index=False)
    summary.customers += len(scored)
    if offers is not None and "propensity" in models:
        pairs = offer_scores(chunk, offers, models["propensity"])
        pairs.to_parquet(tmp / "offers" / f"part-{number:05d}.parquet", index=False)
        summary.pairs += len(pairs)
    if top.size and "churn" in scored:
        top.add(chunk, scored["churn"].to_numpy())


def explain_rows(tmp: Path, rows: pd.DataFrame, models: dict[str, BatchModel]) -> int:
    """Reason codes for the chosen rows into ``reasons.parquet``; returns how many rows."""
    parts = [reason_rows(rows, models[k]) for k in CUSTOMER_KINDS if k in models]
    pd.concat(parts, ignore_index=True).to_parquet(tmp / "reasons.parquet", index=False)
    return len(rows)


class TopRows:
    """The ``size`` rows with the highest churn scores so far (ties: lower customer id first)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._rows: pd.DataFrame | None = None

    def add(self, chunk: pd.DataFrame, score) -> None:
        both = chunk.assign(_score=score)
        if self._rows is not None:
            both = pd.concat([self._rows, both], ignore_index=True)
        order = both.sort_values(["_score", "customer_id"], ascending=[False, True], kind="stable")
        self._rows = order.head(self.size).reset_index(drop=True)

    def scored(self) -> pd.DataFrame:
        """The rows kept so far with their score in ``_score``: what a partial top hands on."""
        return pd.DataFrame() if self._rows is None else self._rows

    def rows(self) -> pd.DataFrame:
        return pd.DataFrame() if self._rows is None else self._rows.drop(columns="_score")
