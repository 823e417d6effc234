"""Recording a gate decision and acting on it: a gate run in MLflow (tags per check, metrics,
``gate.json``), version tags on the challenger, and the alias moves of promotion and rollback.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from monitoring import registry
from monitoring.gate_result import GateResult


@dataclass(frozen=True)
class Promotion:
    """What acting on a gate result did: its recorded run, and the champion move on a pass."""

    gate_run_id: str
    promoted: bool = False
    previous: int | None = None  # the champion it replaced (None: none, or not promoted)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_tags(result: GateResult) -> dict[str, str]:
    """One tag per check (``check.<name>``: verdict, value, threshold, rows) plus the verdict."""
    tags = {
        "monitoring": "gate",
        "kind": result.kind,
        "model_name": result.model,
        "challenger_version": str(result.challenger.version),
        "champion_version": "" if result.champion is None else str(result.champion.version),
        "gate.verdict": "pass" if result.passed else "fail",
        "gate.failed": ",".join(result.failed),
        "gate.window": result.window,
        "gate.config": result.config,
    }
    if result.approved_by:
        tags["approved_by"] = result.approved_by
    for check in result.checks:
        text = (
            f"{check.verdict} value={check.value} {check.comparison} "
            f"{check.threshold} rows={check.rows}"
        )
        tags[f"check.{check.name}"] = text[:5000]
    return tags


def check_metrics(result: GateResult) -> dict[str, float]:
    """Numeric check values as metrics (``check.<name>``) and the quality figures."""
    out = {}
    for check in result.checks:
        if isinstance(check.value, int | float) and not isinstance(check.value, bool):
            out[f"check.{check.name}"] = float(check.value)
    for who, metrics in (
        ("challenger", result.quality.challenger),
        ("champion", result.quality.champion),
    ):
        for key, value in (metrics or {}).items():
            out[f"{who}.{key}"] = value
    return out


def record(client, settings, result: GateResult) -> str:
    """Log the gate run (tags, metrics, gate.json) in the kind's experiment; returns its id."""
    experiment = registry.experiment_id(client, result.kind, settings.artifacts_dir)
    name = f"gate-{result.kind}-v{result.challenger.version}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gate.json"
        document = {**result.to_dict(), "dry_run": False}  # a recorded run is never a dry run
        path.write_text(json.dumps(document, indent=2, default=str) + "\n")
        return registry.log_run(
            client, experiment, name, check_tags(result), check_metrics(result), [path]
        )


def act(client, settings, result: GateResult) -> Promotion:
    """Record the gate run; on pass move ``champion`` (``previous`` keeps the old one).

    Returns what happened: the gate run id and, when promoted, the old champion's version.
    """
    run_id = record(client, settings, result)
    name, version = result.model, int(result.challenger.version)
    verdict = "pass" if result.passed else "fail"
    client.set_model_version_tag(name, str(version), "gate_verdict", verdict)
    client.set_model_version_tag(name, str(version), "gate_run_id", run_id)
    if not result.passed:
        return Promotion(run_id)
    tags = {"promoted_at": result.evaluated_at}
    if result.approved_by:
        tags["approved_by"] = result.approved_by
    previous = registry.promote(client, name, version, tags)
    return Promotion(run_id, promoted=True, previous=previous)


def rollback(client, settings, kind: str) -> dict:
    """``champion`` back to ``previous``, recorded as a run in the kind's experiment."""
    name = settings.model_name(kind)
    demoted, restored = registry.rollback(client, name)
    experiment = registry.experiment_id(client, kind, settings.artifacts_dir)
    tags = {
        "monitoring": "rollback",
        "kind": kind,
        "model_name": name,
        "demoted_version": str(demoted),
        "restored_version": str(restored),
    }
    run_id = registry.log_run(client, experiment, f"rollback-{kind}-v{demoted}", tags, {}, [])
    return {"model": name, "demoted": demoted, "restored": restored, "run_id": run_id}
