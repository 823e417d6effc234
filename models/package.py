"""The packaged model: everything serving needs to turn a feature row into a calibrated score.

Booster, calibrator, feature contract (order, dtypes, category levels) and metadata travel
together, saved as two plain files (``booster.txt``, ``package.json``): no pickles, so a package
loads the same in the service, in batch and on a Spark worker, and scores are reproducible.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.contract import FeatureContract
from models.calibration import Calibrator

PACKAGE_FORMAT = 1


class FeatureMismatchError(ValueError):
    """The rows do not match the model's feature contract (missing column, bad value)."""


@dataclass
class ModelPackage:
    kind: str
    contract: FeatureContract
    booster: lgb.Booster
    calibrator: Calibrator
    metadata: dict = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return self.contract.names

    @property
    def categories(self) -> dict[str, list[str]]:
        """Category levels per categorical feature; the code of a level is its position."""
        return {
            f["name"]: list(f["categories"])
            for f in self.contract.features
            if f["dtype"] == "category"
        }

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows as the float64 matrix the booster was trained on (categories as codes).

        An unseen category level maps to the feature's neutral level ("unknown"), the same
        code training gave to levels it had not seen.
        """
        return feature_matrix(self.contract, frame, self.kind)

    def matrix_of(self, values) -> np.ndarray:
        """The same matrix from rows of plain values in contract order (the service's path:
        no DataFrame for a handful of rows)."""
        return encode_values(self.contract, values)

    def raw_scores(self, x: np.ndarray) -> np.ndarray:
        return self.booster.predict(x, num_threads=_threads(len(x)))

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, one per row."""
        return self.predict_matrix(self.matrix(frame))

    def predict_matrix(self, x: np.ndarray) -> np.ndarray:
        return self.calibrator(self.raw_scores(x))

    def contributions(self, frame: pd.DataFrame) -> np.ndarray:
        """Exact TreeSHAP contributions in log-odds (last column: the expected value)."""
        return self.contributions_matrix(self.matrix(frame))

    def contributions_matrix(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(x, pred_contrib=True, num_threads=_threads(len(x))))

    # -- persistence -----------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "booster.txt").write_text(self.booster.model_to_string())
        body = {
            "format": PACKAGE_FORMAT,
            "kind": self.kind,
            "contract": self.contract.to_dict(),
            "calibrator": self.calibrator.to_dict(),
            "metadata": self.metadata,
        }
        (folder / "package.json").write_text(json.dumps(body, indent=2, default=str) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> ModelPackage:
        folder = Path(folder)
        body = json.loads((folder / "package.json").read_text())
        if body.get("format") != PACKAGE_FORMAT:
            raise ValueError(f"{folder}: unsupported model package format {body.get('format')}")
        return cls(
            kind=body["kind"],
            contract=FeatureContract.from_dict(body["contract"]),
            booster=lgb.Booster(model_str=(folder / "booster.txt").read_text()),
            calibrator=Calibrator.from_dict(body["calibrator"]),
            metadata=body.get("metadata", {}),
        )


def feature_matrix(contract: FeatureContract, frame: pd.DataFrame, kind: str = "") -> np.ndarray:
    """The float64 matrix in contract order; categorical features become their level codes."""
    missing = [n for n in contract.names if n not in frame.columns]
    if missing:
        raise FeatureMismatchError(
            f"{kind or 'model'}: missing feature column(s) {missing[:10]}"
            f"{' ...' if len(missing) > 10 else ''}"
        )
    if len(frame) <= SMALL_FRAME_ROWS:
        return _small_matrix(contract, frame)
    out = np.empty((len(frame), len(contract.features)), dtype=np.float64)
    for j, spec in enumerate(contract.features):
        levels = list(spec["categories"]) if spec["dtype"] == "category" else None
        out[:, j] = _column(frame[spec["name"]], spec, levels)
    return out


SMALL_FRAME_ROWS = 64


@lru_cache(maxsize=64)
def _level_codes(levels: tuple[str, ...], neutral: str) -> tuple[dict[str, int], int]:
    return {level: i for i, level in enumerate(levels)}, levels.index(neutral)


def _small_matrix(contract: FeatureContract, frame: pd.DataFrame) -> np.ndarray:
    """The same matrix for a few rows without per-column pandas work (the service's path:
    one request scores a handful of rows, where pandas overhead would dominate)."""
    return encode_values(contract, frame[contract.names].to_numpy(dtype=object))


def encode_values(contract: FeatureContract, values) -> np.ndarray:
    """Rows of plain values in contract order -> the float64 matrix (categories as codes).

    Numbers convert in one vectorized cast (None becomes NaN); only when that cast fails does
    the per-value path run, to name the row and feature at fault."""
    numeric, categorical = _encoding_plan(contract)
    values = np.asarray(values, dtype=object).reshape(-1, len(contract.features))
    out = np.empty(values.shape, dtype=np.float64)
    try:
        out[:, numeric] = values[:, numeric].astype(np.float64)
    except (TypeError, ValueError):
        for j in numeric:
            name = contract.features[j]["name"]
            out[:, j] = [_number(v, name, row) for row, v in enumerate(values[:, j])]
    for j, codes, fallback, neutral in categorical:
        out[:, j] = [codes.get(_label(v, neutral), fallback) for v in values[:, j]]
    return out


_PLANS: dict[str, tuple[np.ndarray, list]] = {}


def _encoding_plan(contract: FeatureContract) -> tuple[np.ndarray, list]:
    """Per contract (by hash): the numeric column indices and, per categorical column, its
    level codes, fallback code and neutral level."""
    plan = _PLANS.get(contract.hash)
    if plan is None:
        numeric, categorical = [], []
        for j, spec in enumerate(contract.features):
            if spec["dtype"] == "category":
                neutral = str(spec.get("neutral") or "unknown")
                codes, fallback = _level_codes(tuple(spec["categories"]), neutral)
                categorical.append((j, codes, fallback, neutral))
            else:
                numeric.append(j)
        plan = _PLANS[contract.hash] = (np.asarray(numeric, dtype=np.intp), categorical)
    return plan


def _label(value, neutral: str) -> str:
    return (
        neutral if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    )


def _number(value, name: str, row: int) -> float:
    if value is None or value is pd.NA:
        return np.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        raise FeatureMismatchError(
            f"feature {name!r}: row {row} has non-numeric value {value!r}"
        ) from None


def _threads(rows: int) -> int:
    # one thread for small requests: thread start-up costs more than it saves
    return 1 if rows < 2000 else 0


def category_codes(values: pd.Series, levels: list[str], neutral: str) -> np.ndarray:
    """Codes of ``values`` in ``levels``; unseen or missing levels get the neutral's code."""
    if isinstance(values.dtype, pd.CategoricalDtype):  # map the few levels, then gather
        per_level = category_codes(pd.Series(values.cat.categories), levels, neutral)
        codes = values.cat.codes.to_numpy()
        return np.where(codes < 0, levels.index(neutral), per_level[np.maximum(codes, 0)])
    text = values.astype(object).where(values.notna(), neutral).astype(str)
    codes = pd.Categorical(text, categories=levels).codes.astype(np.int64)
    return np.where(codes < 0, levels.index(neutral), codes)


def _column(values: pd.Series, spec: dict, levels: list[str] | None) -> np.ndarray:
    if levels is not None:
        return category_codes(values, levels, str(spec.get("neutral") or "unknown"))
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise FeatureMismatchError(
            f"feature {spec['name']!r}: row {row} has non-numeric value {values.iloc[row]!r}"
        )
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)
