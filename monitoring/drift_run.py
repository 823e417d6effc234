"""The drift workflows: plain data drift between two tables, and a model's feature and
prediction drift against its reference sample. Files in, an Evidently snapshot and a summary out.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from features.contract import FeatureContract
from features.errors import InputError
from models.package import FeatureMismatchError, ModelPackage
from monitoring.config import DriftConfig
from monitoring.drift import prepare, run_report, spec_from_config, usable
from monitoring.tables import (
    ID_COLUMNS,
    TIME_COLUMNS,
    Sample,
    columns_of,
    contract_beside,
    read_sample,
    sample_frame,
)

PREDICTION = "prediction"


def split_types(contract: FeatureContract) -> tuple[list[str], list[str]]:
    """(numerical, categorical) feature names of a contract, in contract order."""
    categorical = [f["name"] for f in contract.features if f["dtype"] == "category"]
    numerical = [f["name"] for f in contract.features if f["dtype"] != "category"]
    return numerical, categorical


def _schema_types(path: Path, names: list[str]) -> tuple[list[str], list[str]]:
    """Types from the Parquet schema: numbers are numerical, text, dictionary and booleans
    categorical, timestamps are left out."""
    import pyarrow.dataset as ds

    schema = ds.dataset(str(path), format="parquet").schema
    numerical, categorical = [], []
    for name in names:
        kind = schema.field(name).type
        text = pa.types.is_string(kind) or pa.types.is_large_string(kind)
        if text or pa.types.is_dictionary(kind) or pa.types.is_boolean(kind):
            categorical.append(name)
        elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
            numerical.append(name)
    return numerical, categorical


def data_drift(reference: Path, current: Path, config: DriftConfig):
    """Drift over the reference's columns (its feature contract's, when one lies beside it)."""
    contract = contract_beside(reference)
    ref_columns, cur_columns = columns_of(reference), columns_of(current)
    if contract is not None:
        numerical, categorical = split_types(contract)
        missing = [c for c in contract.names if c not in cur_columns or c not in ref_columns]
        if missing:
            raise InputError(f"the current rows lack contract feature(s) {missing[:10]}")
        only_ref: list[str] = []
    else:
        skip = {*ID_COLUMNS, *TIME_COLUMNS, PREDICTION}
        names = [c for c in ref_columns if c in cur_columns and c not in skip]
        numerical, categorical = _schema_types(reference, names)
        only_ref = [c for c in ref_columns if c not in cur_columns]
    prediction = PREDICTION if PREDICTION in ref_columns and PREDICTION in cur_columns else None
    wanted = [*categorical, *numerical, *([prediction] if prediction else [])]
    if not wanted:
        raise InputError(f"{reference} and {current} share no comparable column")
    ref = read_sample(reference, wanted, config.max_rows, config.seed)
    cur = read_sample(current, wanted, config.max_rows, config.seed + 1)
    snapshot, summary = compare(ref, cur, numerical, categorical, prediction, config)
    summary["columns_only_in_reference"] = only_ref
    summary["feature_contract"] = None if contract is None else contract.to_dict()["hash"]
    return snapshot, summary


def model_drift(
    package: ModelPackage,
    reference: Sample,
    current: Path,
    config: DriftConfig,
    where=None,
):
    """The model's features and its score: the current rows are scored with ``package``; a
    reference without a ``prediction`` column is scored too."""
    numerical, categorical = split_types(package.contract)
    cur = read_sample(current, package.feature_names, config.max_rows, config.seed + 1, where)
    if cur.frame.empty:
        raise InputError(f"{current}: no rows to compare")
    ref_frame = reference.frame
    missing = [c for c in package.feature_names if c not in ref_frame.columns]
    if missing:
        raise InputError(f"{reference.path}: missing model feature(s) {missing[:10]}")
    if PREDICTION not in ref_frame.columns:
        ref_frame = ref_frame.assign(**{PREDICTION: score(package, ref_frame, reference.path)})
    current_frame = cur.frame.assign(**{PREDICTION: score(package, cur.frame, str(current))})
    reference = Sample(
        ref_frame, reference.path, reference.total, reference.seed, reference.max_rows
    )
    cur = Sample(current_frame, cur.path, cur.total, cur.seed, cur.max_rows)
    return compare(reference, cur, numerical, categorical, PREDICTION, config)


def reference_from_frame(frame: pd.DataFrame, label: str, config: DriftConfig) -> Sample:
    """A logged reference sample (already in memory) as a Sample, capped like any side."""
    kept = sample_frame(frame, config.max_rows, config.seed)
    return Sample(kept, label, len(frame), config.seed, config.max_rows)


def score(package: ModelPackage, frame: pd.DataFrame, where: str):
    try:
        return package.predict(frame)
    except (FeatureMismatchError, ValueError) as exc:
        raise InputError(f"{where}: cannot score the rows with the model: {exc}") from exc


def compare(
    ref: Sample,
    cur: Sample,
    numerical: list[str],
    categorical: list[str],
    prediction: str | None,
    config: DriftConfig,
    render: bool = True,
):
    """Evidently on two samples; the summary states both samples."""
    spec = spec_from_config(numerical, categorical, config, prediction)
    reference, current = prepare(ref.frame, spec), prepare(cur.frame, spec)
    spec, skipped = usable(reference, current, spec)
    snapshot, summary = run_report(reference, current, spec, render)
    summary.update(reference=ref.describe(), current=cur.describe(), skipped=skipped)
    return snapshot, summary
