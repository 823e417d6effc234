"""The feature contract: ordered names, dtypes, ranges, categories, a version and a content hash.

It is written beside every dataset, saved with every model, and serving checks requests against
it, so a model never silently receives features it was not trained on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from features.definitions import FEATURE_SET_VERSION, SPECS


@dataclass(frozen=True)
class FeatureContract:
    version: str
    features: tuple[dict, ...]

    @property
    def names(self) -> list[str]:
        return [f["name"] for f in self.features]

    @cached_property
    def hash(self) -> str:
        """Content hash; cached, as the contract is immutable and the service asks per request."""
        body = json.dumps({"version": self.version, "features": self.features}, sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return {"version": self.version, "hash": self.hash, "features": list(self.features)}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureContract:
        contract = cls(version=data["version"], features=tuple(data["features"]))
        if data.get("hash") not in (None, contract.hash):
            raise ValueError(f"feature contract hash {data['hash']} does not match its content")
        return contract

    def check(self, frame: pd.DataFrame) -> list[str]:
        """Problems of a frame against the contract, each naming the feature and the value."""
        problems = [f"missing feature {n!r}" for n in self.names if n not in frame.columns]
        for spec in self.features:
            if spec["name"] in frame.columns:
                problems += _check_column(frame[spec["name"]], spec)
        return problems


def _check_column(values: pd.Series, spec: dict) -> list[str]:
    name = spec["name"]
    if spec["dtype"] == "category":
        unknown = sorted(set(values.astype(str)) - set(spec["categories"]))
        return [f"{name}: unknown categories {unknown[:5]}"] if unknown else []
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        return [f"{name}: not numeric, e.g. {values[bad].iloc[0]!r}"]
    if numbers.isna().any() and not spec["nullable"]:
        return [f"{name}: null values but the feature is not nullable"]
    out = []
    if spec["min"] is not None and (numbers < spec["min"]).any():
        out.append(f"{name}: {numbers.min()} below the minimum {spec['min']}")
    if spec["max"] is not None and (numbers > spec["max"]).any():
        out.append(f"{name}: {numbers.max()} above the maximum {spec['max']}")
    return out


def _entry(name: str, frame: pd.DataFrame | None) -> dict:
    spec = SPECS[name]
    entry = {
        "name": name,
        "dtype": spec.dtype,
        "min": spec.min_value,
        "max": spec.max_value,
        "nullable": spec.nullable,
        "neutral": None if _nan(spec.neutral) else spec.neutral,
    }
    if spec.dtype == "category":
        seen = set() if frame is None else set(frame[name].astype(str))
        entry["categories"] = sorted(seen | {str(spec.neutral)})
    return entry


def _nan(value) -> bool:
    return isinstance(value, float) and np.isnan(value)


def contract_for(
    names: list[str],
    frame: pd.DataFrame | None = None,
    extra: dict | None = None,
    kind: str = "customer",
) -> FeatureContract:
    """A contract over ``names`` (in model order); category levels come from ``frame``.
    ``extra`` adds specs for features outside the customer set (e.g. offer attributes)."""
    entries = []
    for name in names:
        if extra and name in extra:
            entry = dict(extra[name])
            if entry["dtype"] == "category":
                seen = set() if frame is None else set(frame[name].astype(str))
                entry["categories"] = sorted(seen | {str(entry["neutral"])})
            entries.append(entry)
        else:
            entries.append(_entry(name, frame))
    return FeatureContract(
        version=f"{kind}-features-v{FEATURE_SET_VERSION}", features=tuple(entries)
    )
