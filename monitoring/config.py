"""Monitoring and gate thresholds: typed, read from YAML, never hard-coded in the checks.

The product ships ``default_config.yaml`` beside this module; a user file given with ``--config``
is merged over it key by key, so it only needs the keys it changes. Unknown keys are errors, so a
typo never silently gates with a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from features.errors import InputError

DEFAULT_CONFIG = Path(__file__).with_name("default_config.yaml")
KINDS = ("churn", "propensity", "risk")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DriftConfig(_Strict):
    method: str = Field(min_length=1)
    threshold: float = Field(gt=0)
    per_feature: dict[str, float] = Field(default_factory=dict)
    per_feature_method: dict[str, str] = Field(default_factory=dict)
    drift_share: float = Field(gt=0, le=1)
    prediction_threshold: float = Field(gt=0)
    max_rows: int = Field(ge=100)
    seed: int


class QualityConfig(_Strict):
    min_rows: int = Field(ge=1)
    min_positives: int = Field(ge=1)


class Approval(_Strict):
    required: bool
    approvers: list[str] = Field(default_factory=list)


class Absolute(_Strict):
    min_roc_auc: float = Field(ge=0, le=1)
    max_ece: float = Field(ge=0, le=1)


class Relative(_Strict):
    max_roc_auc_drop: float = Field(ge=0)
    max_ece_increase: float = Field(ge=0)


class GateDrift(_Strict):
    threshold: float = Field(gt=0)
    max_drifted_share: float = Field(ge=0, le=1)
    max_prediction_psi: float = Field(gt=0)
    max_rows: int = Field(ge=100)


class Change(_Strict):
    add: float | None = None
    at_most: float | None = None
    at_least: float | None = None


class Directional(_Strict):
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    kinds: list[Literal["churn", "propensity", "risk"]]
    direction: Literal["up", "down"]
    change: dict[str, Change] = Field(min_length=1)
    max_violation_share: float = Field(ge=0, le=1)
    tolerance: float = Field(default=1e-9, ge=0)


class Behaviour(_Strict):
    rows: int = Field(ge=10)
    max_invalid_share: float = Field(ge=0, le=1)
    max_id_effect: float = Field(ge=0)
    directional: list[Directional] = Field(default_factory=list)


class Replay(_Strict):
    required: bool
    max_rows: int = Field(ge=10)
    max_budget_lead: float = Field(ge=0, le=1)
    max_offer_mix_shift: float = Field(ge=0, le=1)
    max_review_rate_increase: float = Field(ge=0, le=1)


class Shadow(_Strict):
    required: bool
    min_rows: int = Field(ge=1)
    max_mean_abs_diff: float = Field(ge=0, le=1)
    min_rank_correlation: float = Field(ge=-1, le=1)


class GateConfig(_Strict):
    """The gate's thresholds for one model kind (per-kind overrides already applied)."""

    approval: Approval
    absolute: Absolute
    quality: Relative
    drift: GateDrift
    behaviour: Behaviour
    replay: Replay
    shadow: Shadow
    seed: int


class MonitoringConfig(_Strict):
    drift: DriftConfig
    quality: QualityConfig
    gate: dict  # merged and checked per kind by ``gate_for``

    def gate_for(self, kind: str) -> GateConfig:
        """The gate section with ``gate.kinds.<kind>`` merged over it."""
        body = {k: v for k, v in self.gate.items() if k != "kinds"}
        overrides = (self.gate.get("kinds") or {}).get(kind) or {}
        return GateConfig.model_validate(merge(body, overrides))


def merge(base: dict, override: dict) -> dict:
    """``override`` over ``base``, recursively for mappings; lists and scalars replace."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(path: Path | None = None) -> MonitoringConfig:
    """The shipped defaults, with ``path`` merged over them; every kind's gate is checked."""
    body = _read_yaml(DEFAULT_CONFIG)
    source = DEFAULT_CONFIG
    if path is not None:
        if not Path(path).is_file():
            raise InputError(f"--config {path}: no such file")
        body, source = merge(body, _read_yaml(Path(path))), Path(path)
    try:
        config = MonitoringConfig.model_validate(body)
        unknown = set(config.gate.get("kinds") or {}) - set(KINDS)
        if unknown:
            raise InputError(f"{source}: gate.kinds: unknown model kind(s) {sorted(unknown)}")
        for kind in KINDS:
            config.gate_for(kind)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{source}: {where}: {first['msg']} (got {first.get('input')!r})") from exc
    return config


def _read_yaml(path: Path) -> dict:
    try:
        body = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: not readable YAML: {exc}") from exc
    if not isinstance(body, dict):
        raise InputError(f"{path}: expected a mapping of sections (drift, quality, gate)")
    return body
