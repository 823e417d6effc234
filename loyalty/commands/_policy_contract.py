"""Which feature catalogue a policy's references are checked against.

A contract file given with ``--contract`` wins. Without one, the customer-level models registered
in MLflow (``champion``, else ``challenger``) define what the service will evaluate policies
against, so their feature contracts are used when a registry exists. With no registry at all the
product's customer feature set is the reference, so validation never needs one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from features.errors import InputError

# the models whose features a decision's policy expressions see (propensity adds offer attributes)
CUSTOMER_MODELS = ("churn", "risk")


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
    from models.registry import RegistryError, fail_fast, registered_contract

    features: dict[str, dict] = {}
    found = []
    for kind in CUSTOMER_MODELS:
        try:
            with fail_fast():
                hit = registered_contract(
                    settings.tracking_uri, settings.model_name(kind), settings.model_cache_dir
                )
        except RegistryError as exc:
            raise InputError(f"{exc}; pass --contract FILE to validate without it") from exc
        if hit is not None:
            features.update(catalogue_from_contract(hit[0]))
            found.append(hit[1])
    if not found:
        return None
    return Catalogue(features, "the registered feature contracts of " + ", ".join(found))


def _registry_exists(settings) -> bool:
    """An explicit tracking URI, or the embedded SQLite store already on disk (never made here)."""
    if settings.mlflow_tracking_uri:
        return True
    return (settings.home / "mlflow.db").exists()
