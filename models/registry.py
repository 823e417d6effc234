"""Load a packaged model from the MLflow registry by alias (``models:/<name>@<alias>``).

The package files are downloaded once per version into a local cache, so a restart whose
registry is unreachable can still serve the last version it loaded (the caller decides).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from models.aliases import CHALLENGER, CHAMPION
from models.package import ModelPackage


@contextmanager
def fail_fast():
    """Probe a remote registry without MLflow's minutes of HTTP retries."""
    keys = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(keys)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class RegistryError(RuntimeError):
    """The registry cannot answer (unreachable, no such model, no such alias)."""


@dataclass(frozen=True)
class LoadedModel:
    name: str
    alias: str
    version: int
    run_id: str
    package: ModelPackage


def resolve_alias(client, name: str, alias: str):
    """The model version behind an alias, with a clear error when it does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        raise RegistryError(f"no version of model {name!r} has alias {alias!r}: {exc}") from exc


def load_by_alias(tracking_uri: str, name: str, alias: str, cache_dir: Path) -> LoadedModel:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = resolve_alias(client, name, alias)
    folder = _cached_package(client, name, int(version.version), cache_dir)
    return LoadedModel(name, alias, int(version.version), version.run_id, ModelPackage.load(folder))


def registered_contract(
    tracking_uri: str,
    name: str,
    cache_dir: Path,
    aliases: tuple[str, ...] = (CHAMPION, CHALLENGER),
) -> tuple[dict, str] | None:
    """The feature contract of the first alias that exists, and a label naming that version.

    None when the model has none of the aliases; RegistryError when the registry cannot answer.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    for alias in aliases:
        try:
            version = client.get_model_version_by_alias(name, alias)
        except MlflowException:
            continue
        except Exception as exc:  # unreachable store: connection, timeout
            raise RegistryError(f"the registry at {tracking_uri} cannot answer: {exc}") from exc
        folder = _cached_package(client, name, int(version.version), cache_dir)
        body = json.loads((folder / "package.json").read_text())
        return body["contract"], f"{name} v{version.version} ({alias})"
    return None


def _cached_package(client, name: str, version: int, cache_dir: Path) -> Path:
    target = cache_dir / name / str(version)
    if (target / "package.json").exists():
        return target

    import mlflow.artifacts

    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        # the version's own artifact location: no models:/ lookup through a global registry URI
        source = client.get_model_version_download_uri(name, str(version))
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp))
        found = sorted(local.rglob("package.json"))
        if not found:
            raise RegistryError(f"model {name} version {version} holds no packaged model")
        staged = Path(tmp) / "package"
        shutil.copytree(found[0].parent, staged)
        json.loads((staged / "package.json").read_text())  # readable before it is published
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            staged.rename(target)
    return target
