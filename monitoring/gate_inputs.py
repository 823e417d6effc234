"""What the gate reads: model versions by alias, the recent labelled rows, the customers to
replay, and the active contract policies. Files and the registry are read here and nowhere else
in the gate, so the rules and the comparisons stay pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import InputError
from guardrails.ledger.home import open_policy_store
from guardrails.policy.store import compile_active
from models.package import ModelPackage
from models.registry import RegistryError, load_by_alias
from models.specs import spec_for
from monitoring.gate_result import VersionInfo
from monitoring.registry import version_by_alias
from monitoring.tables import kind_data, last_snapshot, read_sample, snapshot_filter

KINDS = ("churn", "propensity", "risk")


@dataclass(frozen=True)
class Model:
    """One registered version, with its packaged model loaded."""

    kind: str
    name: str
    alias: str
    version: int
    run_id: str
    package: ModelPackage

    def version_info(self) -> VersionInfo:
        return VersionInfo(self.name, self.alias, self.version, self.run_id)

    def describe(self) -> dict:
        return self.version_info().to_dict()

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        return self.package.predict(frame)


def load_model(settings, client, kind: str, alias: str) -> Model | None:
    """The version behind ``alias`` with its package (cached per version), or None."""
    name = settings.model_name(kind)
    if version_by_alias(client, name, alias) is None:
        return None
    try:
        loaded = load_by_alias(settings.tracking_uri, name, alias, settings.model_cache_dir)
    except RegistryError as exc:
        raise InputError(str(exc)) from exc
    return Model(kind, name, alias, loaded.version, loaded.run_id, loaded.package)


def label_of(model: Model) -> str:
    return str(model.package.metadata.get("label") or spec_for(model.kind).label)


@dataclass(frozen=True)
class Recent:
    """The dataset's last snapshot of one kind: the most recent labelled window."""

    frame: pd.DataFrame
    window: pd.Timestamp
    path: Path


def recent_rows(dataset: Path, kind: str, label: str, features: list[str]) -> Recent:
    """Every row of the kind's last snapshot with the features and the label."""
    path = kind_data(dataset, kind)
    window = last_snapshot(path)
    columns = list(dict.fromkeys(["customer_id", "as_of", "snapshot", *features, label]))
    sample = read_sample(path, columns, None, 0, snapshot_filter(window))
    frame = sample.frame
    labels = pd.to_numeric(frame[label], errors="coerce")
    if not labels.isin([0, 1]).all():
        raise InputError(f"{path}: label {label!r} must be 0 or 1 in the last snapshot")
    if labels.nunique() < 2:
        raise InputError(f"{path}: the last snapshot ({window.date()}) has one label class only")
    return Recent(frame, window, path)


def customer_rows(dataset: Path, max_rows: int, seed: int) -> pd.DataFrame | None:
    """Customers of the last snapshot (the churn rows, else the risk rows) for the replay."""
    for kind in ("churn", "risk"):
        path = Path(dataset) / kind / "data"
        if path.is_dir():
            window = last_snapshot(path)
            return read_sample(path, None, max_rows, seed, snapshot_filter(window)).frame
    return None


def active_policies(settings) -> dict:
    """Every contract's active policy, compiled (empty when none was applied)."""
    return compile_active(open_policy_store(settings.ledger_database, settings.home))


def replay_models(settings, client, kind: str, challenger: Model, champion: Model | None):
    """Scorers for the candidate run and the baseline run: the gated kind's challenger or
    champion, the other kinds' champions (their challengers when they have none).
    Returns (candidate, baseline, missing kinds)."""
    others, missing = {}, []
    for other in KINDS:
        if other == kind:
            continue
        found = load_model(settings, client, other, "champion") or load_model(
            settings, client, other, "challenger"
        )
        if found is None:
            missing.append(other)
        else:
            others[other] = found.score
    candidate = {**others, kind: challenger.score}
    baseline = None if champion is None else {**others, kind: champion.score}
    return candidate, baseline, missing
