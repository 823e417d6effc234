"""MLflow at the edge: an explicit tracking URI, one experiment per kind, one run per training.

A model version is registered only after every artifact of the run has been logged; the new
version gets the ``challenger`` alias and never ``champion`` (the promotion gate moves that).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from features.errors import LoyaltyError
from models.aliases import CHALLENGER
from models.pyfunc import PackagedModel, signature_for
from models.registry import fail_fast


class RegistryUnavailableError(LoyaltyError):
    """The tracking server or registry cannot be reached; nothing was trained or registered."""


@dataclass(frozen=True)
class Registration:
    run_id: str
    name: str
    version: int
    model_uri: str


def connect(tracking_uri: str):
    """A client for the tracking store and registry, checked to answer before any work."""
    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        with fail_fast():
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
    except Exception as exc:  # any failure here means: no registry to write to
        raise RegistryUnavailableError(
            f"the MLflow tracking store / registry at {tracking_uri} is unreachable "
            f"({type(exc).__name__}: {str(exc)[:200]}); nothing was trained or registered. "
            "Set LOYALTY_MLFLOW_TRACKING_URI to a reachable store."
        ) from exc
    return client


def experiment(client, name: str, artifact_root: Path) -> str:
    """The experiment's id, created with an explicit artifact location on first use."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = (artifact_root / name).resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)


def pip_requirements() -> list[str]:
    """Pinned explicitly: inferring requirements costs ~10 s per model (STACK.md)."""
    packages = ("lightgbm", "numpy", "pandas", "scikit-learn", "pyarrow", "mlflow")
    return [f"{p}=={metadata.version(p)}" for p in packages]


def code_version() -> str:
    """The package version plus the git commit when run from a checkout."""
    version = metadata.version("loyalty-decisioning")
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{version}+{sha}" if sha else version


def log_packaged_model(package, package_dir: Path, example, registered_name: str):
    """Log the pyfunc (package files as artifacts) and register it; returns the version."""
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=PackagedModel(),
        artifacts={"package": str(package_dir)},
        signature=signature_for(package),
        input_example=example,
        pip_requirements=pip_requirements(),
    )
    version = mlflow.register_model(info.model_uri, registered_name)
    return info, int(version.version)


def tag_challenger(client, name: str, version: int, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)
    client.set_registered_model_alias(name, CHALLENGER, str(version))
