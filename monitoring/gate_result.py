"""The promotion gate's result as typed records; ``to_dict`` is the JSON of ``gate.json``.

``GateResult.to_dict()`` keeps the file's shape (keys and their order): model, kind, challenger,
champion, dataset, window, rows, quality, drift, checks, failed, passed, approved_by, config,
evaluated_at. ``loyalty promote`` adds dry_run and, when it acted, the ``Promotion``'s fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitoring import gate_rules as rules
from monitoring.gate_rules import Check

Metrics = Mapping[str, float]  # monitoring.quality.window_metrics: roc_auc, ece, ..., rows


@dataclass(frozen=True)
class VersionInfo:
    """One registered version the gate judged: the model, the alias it was read by, its run."""

    name: str
    alias: str
    version: int
    run: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "alias": self.alias, "version": self.version, "run": self.run}


@dataclass(frozen=True)
class Quality:
    """Quality of both models on the same recent labelled rows (no champion: None)."""

    challenger: Metrics
    champion: Metrics | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"challenger": self.challenger, "champion": self.champion}


@dataclass(frozen=True)
class GateResult:
    """Every check of one gate run for a kind's challenger, and what it was measured on."""

    kind: str
    model: str
    challenger: VersionInfo
    champion: VersionInfo | None
    checks: tuple[Check, ...]
    dataset: str
    window: str  # the last snapshot (ISO): the recent labelled window
    rows: int  # its rows, scored by both models
    quality: Quality
    drift: Mapping[str, Any]  # the drift summary without its per-feature rows
    evaluated_at: str  # ISO, UTC, seconds
    approved_by: str | None = None
    config: str = "default"  # the --config file merged over the shipped thresholds

    @property
    def failed(self) -> list[str]:
        """The names of the checks that failed, in order."""
        return rules.failed(self.checks)

    @property
    def passed(self) -> bool:
        """No check failed (skipped checks do not block)."""
        return rules.passed(self.checks)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready result (``gate.json``, ``--out``)."""
        return {
            "model": self.model,
            "kind": self.kind,
            "challenger": self.challenger.to_dict(),
            "champion": None if self.champion is None else self.champion.to_dict(),
            "dataset": self.dataset,
            "window": self.window,
            "rows": self.rows,
            "quality": self.quality.to_dict(),
            "drift": dict(self.drift),
            "checks": [c.to_dict() for c in self.checks],
            "failed": self.failed,
            "passed": self.passed,
            "approved_by": self.approved_by,
            "config": self.config,
            "evaluated_at": self.evaluated_at,
        }
