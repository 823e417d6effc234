"""The models a worker serves: each kind's champion (and challenger, for shadow scoring).

Loaded by alias from the MLflow registry; the package files are cached per version and the
versions last loaded are recorded in ``<cache>/serving.json``, so a restart while the registry
is unreachable serves the last known good set and says so. A refresh builds a new immutable
``ModelSet`` and swaps one reference: a request in flight keeps the set it started with.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from models.package import ModelPackage
from models.registry import LoadedModel

KINDS = ("churn", "propensity", "risk")
CHAMPION, CHALLENGER = "champion", "challenger"
_RECORD = "serving.json"
log = logging.getLogger("loyalty.serving")


@dataclass(frozen=True)
class ModelSet:
    """One consistent set of models; ``source`` says where it came from (registry or cache)."""

    champions: dict[str, LoadedModel]
    challengers: dict[str, LoadedModel] = field(default_factory=dict)
    source: str = "registry"
    problems: tuple[str, ...] = ()

    def versions(self) -> dict[str, str]:
        return {k: f"{m.name}/{m.version}" for k, m in self.champions.items()}

    def shadow_versions(self) -> dict[str, str]:
        return {k: f"{m.name}/{m.version}" for k, m in self.challengers.items()}

    @cached_property
    def _contract_keys(self) -> dict[int, str]:
        # ids are stable while this set (which holds every package) lives
        models = [*self.champions.values(), *self.challengers.values()]
        return {id(m.package): m.package.contract.hash for m in models}

    def contract_key(self, package: ModelPackage) -> str:
        """Packages with equal keys read the same feature matrix (same contract)."""
        key = self._contract_keys.get(id(package))
        return key if key is not None else f"{id(package)}"

    def key(self) -> tuple:
        """What a refresh compares: the versions behind both aliases."""
        return tuple(sorted(self.versions().items())), tuple(sorted(self.shadow_versions().items()))


def load_models(
    tracking_uri: str, names: dict[str, str], cache_dir: Path, shadow: bool = True
) -> ModelSet:
    """Champions (and challengers) from the registry; falls back to the recorded cache."""
    from models.registry import load_by_alias

    try:
        champions = {k: load_by_alias(tracking_uri, names[k], CHAMPION, cache_dir) for k in KINDS}
    except Exception as exc:  # registry down or alias missing: the last known good, if any
        cached = _from_record(cache_dir)
        if cached is None:
            raise
        log.warning("registry unavailable (%s): serving the last known good models", exc)
        return ModelSet(cached, {}, "cache", (f"registry: {exc}",))
    challengers: dict[str, LoadedModel] = {}
    problems: list[str] = []
    for kind in KINDS if shadow else ():
        try:
            m = load_by_alias(tracking_uri, names[kind], CHALLENGER, cache_dir)
        except Exception as exc:
            problems.append(f"no challenger for {kind}: {exc}")
            continue
        if m.version != champions[kind].version:
            challengers[kind] = m
    _write_record(cache_dir, champions)
    return ModelSet(champions, challengers, "registry", tuple(problems))


def _write_record(cache_dir: Path, champions: dict[str, LoadedModel]) -> None:
    data = {
        k: {"name": m.name, "version": m.version, "run_id": m.run_id} for k, m in champions.items()
    }
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{_RECORD}.{os.getpid()}"
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(cache_dir / _RECORD)


def _from_record(cache_dir: Path) -> dict[str, LoadedModel] | None:
    record = cache_dir / _RECORD
    if not record.exists():
        return None
    out = {}
    for kind, m in json.loads(record.read_text()).items():
        folder = cache_dir / m["name"] / str(m["version"])
        out[kind] = LoadedModel(
            m["name"], CHAMPION, int(m["version"]), m["run_id"], ModelPackage.load(folder)
        )
    return out
