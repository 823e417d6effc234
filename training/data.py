"""Read one kind's training set from a dataset folder and check it before any fitting.

Everything that can make training fail for a reason the user can fix is found here, before
minutes of fitting and before anything is logged or registered.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import FeatureContract
from features.errors import InputError
from models.specs import ModelSpec

MIN_ROWS_PER_SPLIT = 50
MIN_POSITIVES_PER_SPLIT = 5


@dataclass
class TrainingSet:
    kind: str
    folder: Path
    frame: pd.DataFrame
    contract: FeatureContract
    label: np.ndarray
    label_end: pd.Series
    oracle: pd.Series | None
    summary: dict


def load_training_set(dataset: Path, spec: ModelSpec) -> TrainingSet:
    folder = dataset / spec.kind
    data_dir, contract_path = folder / "data", folder / "feature_contract.json"
    if not data_dir.exists() or not contract_path.exists():
        raise InputError(
            f"{folder} is not a {spec.kind} training set (expected data/ and "
            "feature_contract.json there): build one with `loyalty dataset build`"
        )
    try:
        contract = FeatureContract.from_dict(json.loads(contract_path.read_text()))
    except (ValueError, KeyError) as exc:
        raise InputError(f"{contract_path}: unreadable feature contract: {exc}") from exc
    frame = pd.read_parquet(data_dir)
    if frame.empty:
        raise InputError(f"{data_dir} holds no rows")
    _check_columns(frame, contract, spec, folder)
    summary = _summary(dataset)
    label = _binary_label(frame, spec, folder)
    return TrainingSet(
        kind=spec.kind,
        folder=folder,
        frame=frame,
        contract=contract,
        label=label,
        label_end=_label_end(frame, spec, summary),
        oracle=_oracle(folder, frame, spec),
        summary=summary,
    )


def _check_columns(frame: pd.DataFrame, contract: FeatureContract, spec, folder: Path) -> None:
    needed = [spec.label, "customer_id", "snapshot", "as_of"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(f"{folder}/data: missing column(s) {missing}")
    problems = contract.check(frame)
    if problems:
        shown = "; ".join(problems[:5])
        raise InputError(
            f"{folder}/data does not match its feature contract "
            f"({contract.version}, hash {contract.hash}): {shown}"
        )


def _binary_label(frame: pd.DataFrame, spec: ModelSpec, folder: Path) -> np.ndarray:
    values = pd.to_numeric(frame[spec.label], errors="coerce")
    bad = ~values.isin([0, 1])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"{folder}/data: label {spec.label!r} must be 0 or 1; row {row} has "
            f"{frame[spec.label].iloc[row]!r}"
        )
    label = values.to_numpy(dtype=np.int64)
    if len(np.unique(label)) < 2:
        raise InputError(
            f"{folder}/data: label {spec.label!r} has one class only ({int(label[0])} in all "
            f"{len(label)} rows); a classifier needs both"
        )
    return label


def dataset_fingerprint(dataset: Path, kind: str) -> str:
    """A short digest of a kind's training set (its contract and the build summary), so a
    rerun can tell whether a registered model was trained on exactly these rows."""
    digest = hashlib.sha256()
    for path in (dataset / kind / "feature_contract.json", dataset / "summary.json"):
        digest.update(path.read_bytes() if path.exists() else b"-")
    return digest.hexdigest()[:16]


def _summary(dataset: Path) -> dict:
    path = dataset / "summary.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _label_end(frame: pd.DataFrame, spec: ModelSpec, summary: dict) -> pd.Series:
    """When each row's label is settled: as-of plus the horizon (or the offer window)."""
    built = summary.get("spec") or {}
    key = "offer_window_days" if spec.kind == "propensity" else "horizon_days"
    days = built.get(key)
    as_of = pd.to_datetime(frame["as_of"], utc=True)
    if days is None:  # an older dataset: labels end at as-of (no embargo possible)
        return as_of
    return as_of + pd.Timedelta(days=float(days))


def _oracle(folder: Path, frame: pd.DataFrame, spec: ModelSpec) -> pd.Series | None:
    path = folder / "oracle.parquet"
    if not path.exists():
        return None
    oracle = pd.read_parquet(path)
    if len(oracle) != len(frame):
        raise InputError(f"{path} has {len(oracle)} rows, the data {len(frame)}")
    if not (oracle["customer_id"].to_numpy() == frame["customer_id"].to_numpy()).all():
        raise InputError(f"{path}: rows are not in the data's order (customer_id differs)")
    return pd.Series(oracle["oracle"].to_numpy(dtype=np.float64), index=frame.index)


def check_split_sizes(label: np.ndarray, masks: dict[str, np.ndarray], folder: Path) -> None:
    """Each split needs enough rows and both classes to fit, stop, calibrate and evaluate."""
    for name, mask in masks.items():
        rows, positives = int(mask.sum()), int(label[mask].sum())
        negatives = rows - positives
        if rows < MIN_ROWS_PER_SPLIT or min(positives, negatives) < MIN_POSITIVES_PER_SPLIT:
            raise InputError(
                f"{folder}: too few rows in the {name} split ({rows} rows, {positives} "
                f"positive); each split needs >= {MIN_ROWS_PER_SPLIT} rows and >= "
                f"{MIN_POSITIVES_PER_SPLIT} of each class: use more customers or snapshots"
            )
