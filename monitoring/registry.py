"""MLflow at the edge of monitoring: versions by alias, reference samples, runs, alias moves.

Aliases are the only state the gate changes: ``champion`` serves, ``challenger`` is the candidate,
``previous`` is the champion before the current one. The registered model's tag
``champion_history`` lists every champion in order (``"3,5,8"``), so rollback can go back more
than one step and ``previous`` is always the entry before the last.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from features.errors import InputError, LoyaltyError
from models.aliases import CHALLENGER, CHAMPION, PREVIOUS
from models.registry import fail_fast

__all__ = ["CHALLENGER", "CHAMPION", "PREVIOUS"]
HISTORY_TAG = "champion_history"
REFERENCE_ARTIFACT = "reference/reference.parquet"


def connect(tracking_uri: str):
    """A client for the tracking store and registry, checked to answer (a missing SQLite file
    is an error here: monitoring never creates an empty registry)."""
    from mlflow import MlflowClient

    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri.removeprefix("sqlite:///"))
        if not path.exists():
            raise LoyaltyError(
                f"no model registry at {path}: train models first (`loyalty train`) or set "
                "LOYALTY_HOME / LOYALTY_MLFLOW_TRACKING_URI"
            )
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        with fail_fast():
            client.search_registered_models(max_results=1)
    except Exception as exc:  # any failure here means: no registry to read
        raise LoyaltyError(
            f"the MLflow registry at {tracking_uri} is unreachable ({type(exc).__name__}: "
            f"{str(exc)[:200]})"
        ) from exc
    return client


def version_by_alias(client, name: str, alias: str):
    """The model version behind ``alias``, or None when the model or the alias is absent."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def require_version(client, name: str, alias: str):
    found = version_by_alias(client, name, alias)
    if found is None:
        hint = "train one with `loyalty train`" if alias == CHALLENGER else "promote one first"
        raise InputError(f"model {name!r} has no version with alias {alias!r}: {hint}")
    return found


def reference_sample(client, run_id: str) -> pd.DataFrame:
    """The reference sample logged with a model's training run."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = client.download_artifacts(run_id, REFERENCE_ARTIFACT, tmp)
        except Exception as exc:
            raise InputError(
                f"run {run_id} has no {REFERENCE_ARTIFACT}: give --reference PATH ({exc})"
            ) from exc
        return pd.read_parquet(local)


def experiment_id(client, kind: str, artifacts_dir: Path) -> str:
    """The kind's experiment (the one training logs to), created on first use."""
    name = f"loyalty-{kind}"
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(
        name, artifact_location=(artifacts_dir / name).resolve().as_uri()
    )


def log_run(
    client,
    experiment: str,
    run_name: str,
    tags: dict[str, str],
    metrics: dict[str, float],
    artifacts: list[Path],
    series: Sequence[tuple[str, float, int, int]] = (),
) -> str:
    """One finished run with tags, finite metrics (plus ``series``: (key, value, timestamp ms,
    step) points of metrics tracked over time) and artifact files; returns its id."""
    from mlflow.entities import Metric

    run = client.create_run(experiment, run_name=run_name, tags=tags)
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    finite = {k: float(v) for k, v in metrics.items() if v is not None and _finite(v)}
    items = [Metric(_key(k), v, now, 0) for k, v in finite.items()]
    items += [Metric(_key(k), float(v), t, step) for k, v, t, step in series if _finite(v)]
    for start in range(0, len(items), 900):  # the store takes at most 1000 per batch
        client.log_batch(run_id, metrics=items[start : start + 900])
    for path in artifacts:
        client.log_artifact(run_id, str(path))
    client.set_terminated(run_id)
    return run_id


def _finite(value) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return number == number and abs(number) != float("inf")


def _key(name: str) -> str:
    """MLflow metric keys allow letters, digits and ``_-./ :``; anything else becomes ``_``."""
    return "".join(c if c.isalnum() or c in "_-./ :" else "_" for c in name)


def history(client, name: str) -> list[int]:
    tags = client.get_registered_model(name).tags
    text = tags.get(HISTORY_TAG, "")
    return [int(v) for v in text.split(",") if v.strip()]


def _set_history(client, name: str, versions: list[int]) -> None:
    client.set_registered_model_tag(name, HISTORY_TAG, ",".join(str(v) for v in versions))


def promote(client, name: str, version: int, tags: dict[str, str]) -> int | None:
    """``champion`` to ``version``, ``previous`` to the old champion; returns the old one.

    The new champion's ``challenger`` alias is removed: it is no longer a candidate.
    """
    old = version_by_alias(client, name, CHAMPION)
    old_version = int(old.version) if old is not None else None
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)
    past = history(client, name)
    if old_version is not None and (not past or past[-1] != old_version):
        past.append(old_version)  # a champion set by hand before the gate existed
    _set_history(client, name, [*past, version])
    if old_version is not None:
        client.set_registered_model_alias(name, PREVIOUS, str(old_version))
    client.set_registered_model_alias(name, CHAMPION, str(version))
    challenger = version_by_alias(client, name, CHALLENGER)
    if challenger is not None and int(challenger.version) == version:
        client.delete_registered_model_alias(name, CHALLENGER)
    return old_version


def rollback(client, name: str) -> tuple[int, int]:
    """``champion`` back to ``previous``; returns (demoted, restored). ``previous`` moves one
    step further back in the history, or is removed when there is none."""
    current = require_version(client, name, CHAMPION)
    before = version_by_alias(client, name, PREVIOUS)
    if before is None:
        raise InputError(f"model {name!r} has no previous champion to roll back to")
    demoted, restored = int(current.version), int(before.version)
    past = history(client, name) or [restored, demoted]
    while past and past[-1] != restored:
        past.pop()  # drop the demoted version (and anything promoted after the restored one)
    if not past:
        past = [restored]
    _set_history(client, name, past)
    client.set_registered_model_alias(name, CHAMPION, str(restored))
    if len(past) >= 2:
        client.set_registered_model_alias(name, PREVIOUS, str(past[-2]))
    else:
        client.delete_registered_model_alias(name, PREVIOUS)
    stamp = json.dumps({"rolled_back_to": restored, "at": time.time()})
    client.set_model_version_tag(name, str(demoted), "rolled_back", stamp)
    return demoted, restored
