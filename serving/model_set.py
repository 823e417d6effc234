"""The models a worker serves: each kind's champion (and challenger, for shadow scoring).

Loaded by alias from the MLflow registry; the package files are cached per version and the
versions last loaded are recorded in ``<cache>/serving.json``, so a restart while the registry
is unreachable serves the last known good set and says so. A registry that answers that a kind
has no champion is not an outage: there is nothing to serve, and start-up stops with one line
that says what to run first (``CannotServeError``), never a crash loop. A refresh builds a new
immutable ``ModelSet`` and swaps one reference: a request in flight keeps the set it started with.

Importing this module is light (no MLflow, LightGBM or pandas): ``loyalty serve`` checks for
champions with it before it starts BentoML.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from models.aliases import CHALLENGER, CHAMPION, embedded_aliases
from models.package import ModelPackage
from models.registry import LoadedModel, RegistryError, load_by_alias, resolve_alias

KINDS = ("churn", "propensity", "risk")
_RECORD = "serving.json"
# the registry's answer when the model or the alias does not exist (SQL and REST stores alike)
_NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
FIRST_STEPS = (
    "run `loyalty demo` first (the whole loop on embedded defaults), or "
    "`loyalty train all --dataset DIR && loyalty promote KIND --dataset DIR` for each of "
    + ", ".join(KINDS)
)
log = logging.getLogger("loyalty.serving")


class CannotServeError(RuntimeError):
    """Start-up cannot succeed by retrying: no champion for a kind, or the registry cannot
    answer and no last known good models were recorded. The message is one line."""


def no_champion(names: list[str]) -> CannotServeError:
    """The refusal for models without a champion, naming the first and listing the others."""
    others = f" (nor of {' or '.join(repr(n) for n in names[1:])})" if names[1:] else ""
    return CannotServeError(
        f"no version of model {names[0]!r} has alias {CHAMPION!r}{others}: nothing to serve; "
        f"{FIRST_STEPS}"
    )


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
    """Champions (and challengers) from the registry; the recorded last known good set when
    the registry cannot answer. ``CannotServeError`` when the registry says a kind has no
    champion, or when it cannot answer and nothing was recorded."""
    try:
        missing = _without_champion(tracking_uri, names)  # before any package is fetched
        champions = {} if missing else {
            k: load_by_alias(tracking_uri, names[k], CHAMPION, cache_dir) for k in KINDS
        }  # fmt: skip
    except Exception as exc:  # the registry cannot answer: the last known good, if any
        cached = _from_record(cache_dir)
        if cached is None:
            raise CannotServeError(
                f"the model registry at {tracking_uri} cannot answer ({_first_line(exc)}) and no "
                f"last known good models are recorded in {cache_dir}: start the registry, or "
                "set LOYALTY_MLFLOW_TRACKING_URI to one that answers"
            ) from exc
        log.warning("registry unavailable (%s): serving the last known good models", exc)
        return ModelSet(cached, {}, "cache", (f"registry: {exc}",))
    if missing:  # the registry answered: not an outage, and the cache must not hide it
        raise no_champion(missing)
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


def aliases_unchanged(models: ModelSet, tracking_uri: str, names: dict[str, str], shadow: bool):
    """True when the embedded registry's aliases still point at the loaded versions (read
    directly in about a millisecond), so a refresh need not ask MLflow (~75 ms of a worker's
    time every poll, which requests waiting behind it would feel). False when they moved, when
    the set came from the cache, or when only the MLflow client can tell."""
    if models.source != "registry":
        return False
    aliases = embedded_aliases(tracking_uri, [names[k] for k in KINDS])
    if aliases is None:
        return False
    for kind in KINDS:
        found = aliases[names[kind]]
        champion = models.champions.get(kind)
        if champion is None or found.get(CHAMPION) != {int(champion.version)}:
            return False
        challenger = models.challengers.get(kind)
        wanted = found.get(CHALLENGER, set()) - {int(champion.version)} if shadow else set()
        if wanted != ({int(challenger.version)} if challenger is not None else set()):
            return False
    return True


def missing_champions(tracking_uri: str, names: list[str]) -> list[str] | None:
    """The registered model names without a champion, read cheaply before a server starts:
    the embedded SQLite registry is read directly (read-only; a missing file is an empty
    registry, and is not created). None when this cannot tell (another kind of registry, an
    unfamiliar schema): the worker's own load decides then."""
    aliases = embedded_aliases(tracking_uri, names)
    if aliases is None:
        return None
    return [name for name in names if CHAMPION not in aliases[name]]


def _without_champion(tracking_uri: str, names: dict[str, str]) -> list[str]:
    """The registered names whose champion alias the registry says does not exist; any other
    failure (an outage) is raised."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    missing = []
    for kind in KINDS:
        try:
            resolve_alias(client, names[kind], CHAMPION)
        except RegistryError as exc:
            if getattr(exc.__cause__, "error_code", None) not in _NOT_FOUND:
                raise
            missing.append(names[kind])
    return missing


def _first_line(exc: BaseException) -> str:
    """The error in one line: the registry client's own (a RegistryError wraps it)."""
    if isinstance(exc, RegistryError) and exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


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
