"""Which feature catalogue a policy's references are checked against.

A contract file given with ``--contract`` wins. Without one, the customer-level models registered
in MLflow (``champion``, else ``challenger``) define what the service will evaluate policies
against, so their feature contracts are used when a registry exists. With no registry at all the
product's customer feature set is the reference, so validation never needs one.

A registered version's feature contract never changes, so it is read from the data home's model
cache (``model-cache/<name>/<version>/package.json``, written when a version is first loaded).
With the embedded registry (SQLite) the aliases are read straight from its table, read-only, so
the usual check costs milliseconds instead of importing MLflow and opening its store (seconds);
any other registry, a version not cached yet or a table this code does not recognise goes
through the MLflow client, which fills the cache.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from features.errors import InputError
from models.aliases import CHALLENGER, CHAMPION, embedded_aliases, embedded_file

# the models whose features a decision's policy expressions see (propensity adds offer attributes)
CUSTOMER_MODELS = ("churn", "risk")
ALIASES = (CHAMPION, CHALLENGER)
_UNKNOWN = object()  # the fast path cannot answer: ask the MLflow client


@dataclass(frozen=True)
class Catalogue:
    """Feature name -> dtype and neutral value (None: the product's feature set), and its source."""

    features: dict[str, dict] | None
    source: str


def policy_catalogue(contract: Path | None) -> Catalogue:
    """The catalogue to check feature references against (see the module docstring)."""
    from guardrails.policy.validate import read_catalogue

    if contract is not None:
        return Catalogue(read_catalogue(contract), f"the feature contract {contract}")
    return registered_catalogue() or Catalogue(None, "the product's customer feature set")


def registered_catalogue() -> Catalogue | None:
    """The union of the registered customer models' feature contracts, if a registry exists."""
    from loyalty.settings import load_settings

    settings = load_settings()
    if not _registry_exists(settings):
        return None
    from guardrails.policy.expressions import catalogue_from_contract

    features: dict[str, dict] = {}
    found = []
    for kind in CUSTOMER_MODELS:
        name = settings.model_name(kind)
        hit = cached_contract(settings.tracking_uri, name, settings.model_cache_dir)
        if hit is _UNKNOWN:
            hit = _client_contract(settings, name)
        if hit is not None:
            features.update(catalogue_from_contract(hit[0]))
            found.append(hit[1])
    if not found:
        return None
    return Catalogue(features, "the registered feature contracts of " + ", ".join(found))


def cached_contract(tracking_uri: str, name: str, cache_dir: Path):
    """(contract, label) of the model's first alias in ``ALIASES``, None when it has neither,
    or ``_UNKNOWN`` when only the MLflow client can tell (not the embedded registry, an
    unexpected table, or a version whose package is not in the cache yet)."""
    database = embedded_file(tracking_uri)
    if database is None or not database.is_file():
        return _UNKNOWN
    found = embedded_aliases(tracking_uri, [name])
    if found is None:
        return _UNKNOWN
    versions = found[name]
    for alias in ALIASES:
        if alias not in versions:
            continue
        if len(versions[alias]) > 1:  # several workspaces: the client knows which one is ours
            return _UNKNOWN
        version = int(next(iter(versions[alias])))
        package = Path(cache_dir) / name / str(version) / "package.json"
        try:
            contract = json.loads(package.read_text())["contract"]
        except (OSError, ValueError, KeyError):
            return _UNKNOWN
        return contract, f"{name} v{version} ({alias})"
    return None


def _client_contract(settings, name: str):
    from models.registry import RegistryError, fail_fast, registered_contract

    hint = "pass --contract FILE to validate without it"
    try:
        with fail_fast():
            return registered_contract(
                settings.tracking_uri, name, settings.model_cache_dir, ALIASES
            )
    except RegistryError as exc:
        raise InputError(f"{exc}; {hint}") from exc
    except Exception as exc:  # a store MLflow cannot open (a damaged database file, ...)
        first = (str(exc).splitlines() or [""])[0]
        raise InputError(
            f"the registry at {settings.tracking_uri} cannot answer ({type(exc).__name__}: "
            f"{first}); {hint}"
        ) from exc


def _registry_exists(settings) -> bool:
    """An explicit tracking URI, or the embedded SQLite store already on disk (never made here)."""
    if settings.mlflow_tracking_uri:
        return True
    return (settings.home / "mlflow.db").exists()
