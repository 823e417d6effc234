"""Helpers for the drift, gate, promotion and monitoring tests (no tests here).

Data homes are copies of the session's ``trained_home`` with the registry's artifact paths
rewritten to the copy, so a test may train, register, promote and roll back without touching the
shared home. Challengers that must differ from the champion in exactly one way are registered for
real (a run with its own reference sample, a logged package), never mocked.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from loyalty.cli import app

PATH_COLUMNS = (
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("experiments", "artifact_location"),
    ("model_versions", "storage_location"),
    ("model_versions", "source"),
)


def copy_home(src: Path, dst: Path) -> Path:
    """A copy of a data home whose registry points at the copy's own artifacts."""
    shutil.copytree(src, dst)
    old, new = str(Path(src).resolve()), str(Path(dst).resolve())
    with sqlite3.connect(dst / "mlflow.db") as db:
        for table, column in PATH_COLUMNS:
            db.execute(f"UPDATE {table} SET {column} = REPLACE({column}, ?, ?)", (old, new))
    shutil.rmtree(dst / "model-cache", ignore_errors=True)
    return dst


def invoke(home: Path, *args: str):
    """Run the CLI with ``home`` as the data home."""
    return CliRunner().invoke(app, [str(a) for a in args], env={"LOYALTY_HOME": str(home)})


def client(home: Path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{(home / 'mlflow.db').resolve()}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def name(kind: str) -> str:
    return f"loyalty-{kind}"


def aliases(home: Path, kind: str) -> dict[str, int]:
    found = client(home).get_registered_model(name(kind)).aliases
    return {alias: int(version) for alias, version in found.items()}


def set_aliases(home: Path, kind: str, **versions: int | None) -> None:
    """Point aliases at versions (None removes the alias)."""
    c = client(home)
    for alias, version in versions.items():
        if version is None:
            if alias in c.get_registered_model(name(kind)).aliases:
                c.delete_registered_model_alias(name(kind), alias)
        else:
            c.set_registered_model_alias(name(kind), alias, str(version))


def reference_of(home: Path, kind: str, version: int) -> pd.DataFrame:
    c = client(home)
    run_id = c.get_model_version(name(kind), str(version)).run_id
    with tempfile.TemporaryDirectory() as tmp:
        return pd.read_parquet(c.download_artifacts(run_id, "reference/reference.parquet", tmp))


def register_with_reference(home: Path, kind: str, source: int, reference: pd.DataFrame) -> int:
    """A new version of the same packaged model as ``source`` whose training run logged
    ``reference`` as its reference sample."""
    c = client(home)
    src = c.get_model_version(name(kind), str(source))
    experiment = c.get_experiment_by_name(f"loyalty-{kind}").experiment_id
    run_id = c.create_run(experiment, run_name=f"variant-{kind}").info.run_id
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reference.parquet"
        reference.to_parquet(path, index=False)
        c.log_artifact(run_id, str(path), "reference")
    c.set_terminated(run_id)
    return int(c.create_model_version(name(kind), src.source, run_id=run_id).version)


def register_package(home: Path, kind: str, package, reference: pd.DataFrame) -> int:
    """Log ``package`` as a pyfunc with ``reference`` and register it (the training path)."""
    import mlflow

    from models.pyfunc import example_input
    from training.tracking import log_packaged_model

    uri = f"sqlite:///{(home / 'mlflow.db').resolve()}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = client(home).get_experiment_by_name(f"loyalty-{kind}").experiment_id
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(experiment_id=experiment):
        folder = Path(tmp)
        (folder / "reference").mkdir()
        reference.to_parquet(folder / "reference" / "reference.parquet", index=False)
        mlflow.log_artifacts(str(folder / "reference"), artifact_path="reference")
        package.save(folder / "package")
        example = example_input(package, reference)
        _, version = log_packaged_model(package, folder / "package", example, name(kind))
    return version


def load_package(home: Path, kind: str, version: int):
    from models.registry import load_by_alias

    set_aliases(home, kind, inspect=version)
    uri = f"sqlite:///{(home / 'mlflow.db').resolve()}"
    loaded = load_by_alias(uri, name(kind), "inspect", home / "model-cache")
    set_aliases(home, kind, inspect=None)
    return loaded.package


def apply_policies(home: Path, sim_dir: Path) -> None:
    for path in sorted((sim_dir / "policies").glob("*.yaml")):
        result = invoke(home, "policy", "apply", path)
        assert result.exit_code == 0, result.output


def write_shadow(home: Path, kind: str, champion: int, challenger: int, a, b) -> Path:
    """Shadow scores as the decision service records them (docs/monitoring.md)."""
    folder = home / "shadow" / kind
    folder.mkdir(parents=True, exist_ok=True)
    n = len(a)
    frame = pd.DataFrame(
        {
            "scored_at": pd.Timestamp("2025-09-02", tz="UTC") + pd.to_timedelta(np.arange(n), "s"),
            "customer_id": [f"p-{i:06d}" for i in range(n)],
            "champion_version": champion,
            "challenger_version": challenger,
            "champion_score": np.asarray(a, dtype=float),
            "challenger_score": np.asarray(b, dtype=float),
        }
    )
    path = folder / f"part-{champion}-{challenger}.parquet"
    frame.to_parquet(path, index=False)
    return path


def last_snapshot_rows(dataset: Path, kind: str) -> pd.DataFrame:
    frame = pd.read_parquet(dataset / kind / "data")
    return frame[frame["snapshot"] == frame["snapshot"].max()].reset_index(drop=True)
