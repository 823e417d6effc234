"""The training config: defaults in code (models/specs.py), overrides from an optional YAML file.

Unknown keys are errors, so a typo never silently trains with defaults.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from features.errors import InputError
from models.specs import ModelSpec, spec_for


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KindOverrides(_Strict):
    params: dict = Field(default_factory=dict, description="LightGBM parameters to override.")
    calibration: str | None = Field(default=None, pattern="^(isotonic|sigmoid|none)$")
    num_boost_round: int | None = Field(default=None, ge=1)
    early_stopping_rounds: int | None = Field(default=None, ge=1)
    monotone: dict[str, int] | None = None


class TuneConfig(_Strict):
    enabled: bool = False
    time_budget_s: float = Field(default=300.0, gt=0)
    max_trials: int = Field(default=40, ge=1)


class TrainConfig(_Strict):
    seed: int = 7
    threads: int = Field(default=0, ge=0, description="0: all cores.")
    max_train_rows: int | None = Field(
        default=1_000_000, ge=1000, description="Seeded subsample of the train split above this."
    )
    reference_rows: int = Field(default=5000, ge=100)
    plots: bool = True
    shap_rows: int = Field(default=2000, ge=10)
    tune: TuneConfig = Field(default_factory=TuneConfig)
    kinds: dict[str, KindOverrides] = Field(default_factory=dict)

    def spec(self, kind: str) -> ModelSpec:
        base = spec_for(kind)
        over = self.kinds.get(kind)
        if over is None:
            return base
        changes = {k: v for k, v in over.model_dump().items() if v not in (None, {})}
        return base.with_overrides(**changes)


def load_config(path: Path | None) -> TrainConfig:
    if path is None:
        return TrainConfig()

    if not path.exists():
        raise InputError(f"training config {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
        config = TrainConfig.model_validate(data)
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{path}: {where}: {first['msg']} (got {first.get('input')!r})") from exc
    unknown = set(config.kinds) - {"churn", "propensity", "risk"}
    if unknown:
        raise InputError(f"{path}: kinds: unknown model kind(s) {sorted(unknown)}")
    return config
