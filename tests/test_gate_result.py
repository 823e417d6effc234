"""The gate's typed result writes the JSON shape that gate.json has always had (docs/monitoring.md
and the end-to-end gate tests read it): the same keys, in the same order, the same values."""

from __future__ import annotations

import json
from dataclasses import replace

from loyalty.commands.promote import gate_document
from monitoring.gate_result import GateResult, Quality, VersionInfo
from monitoring.gate_rules import Check
from monitoring.promotion import Promotion, check_metrics, check_tags

METRICS = {"roc_auc": 0.81, "ece": 0.01, "rows": 1_000.0}
RESULT = GateResult(
    kind="churn",
    model="loyalty-churn",
    challenger=VersionInfo("loyalty-churn", "challenger", 3, "run-3"),
    champion=VersionInfo("loyalty-churn", "champion", 2, "run-2"),
    checks=(
        Check("absolute.roc_auc", 0.81, 0.65, ">=", "pass", 1_000),
        Check("quality.ece", 0.02, 0.01, "<=", "fail", 1_000, "champion 0.0100"),
        Check("shadow.mean_abs_diff", None, None, "-", "skip", 0, "no shadow rows"),
    ),
    dataset="/data/datasets",
    window="2025-09-01T00:00:00",
    rows=1_000,
    quality=Quality(METRICS, {**METRICS, "roc_auc": 0.8}),
    drift={"features": 10, "drifted_share": 0.1},
    evaluated_at="2025-09-02T08:00:00+00:00",
    approved_by="alice",
)
KEYS = ["model", "kind", "challenger", "champion", "dataset", "window", "rows", "quality",
        "drift", "checks", "failed", "passed", "approved_by", "config", "evaluated_at"]  # fmt: skip


def test_the_result_as_json_keeps_the_gate_json_shape() -> None:
    out = json.loads(json.dumps(RESULT.to_dict()))
    assert list(out) == KEYS
    assert out["challenger"] == {"name": "loyalty-churn", "alias": "challenger", "version": 3,
                                 "run": "run-3"}  # fmt: skip
    assert out["champion"]["version"] == 2
    assert out["quality"] == {"challenger": METRICS, "champion": {**METRICS, "roc_auc": 0.8}}
    assert out["checks"][1] == {"name": "quality.ece", "value": 0.02, "threshold": 0.01,
                                "comparison": "<=", "verdict": "fail", "rows": 1_000,
                                "detail": "champion 0.0100"}  # fmt: skip
    assert (out["failed"], out["passed"], out["config"]) == (["quality.ece"], False, "default")


def test_a_first_model_has_no_champion_and_passes_when_no_check_fails() -> None:
    first = replace(RESULT, champion=None, quality=Quality(METRICS), checks=RESULT.checks[:1])
    out = first.to_dict()
    assert out["champion"] is None and out["quality"]["champion"] is None
    assert (out["failed"], out["passed"]) == ([], True)
    assert check_tags(first)["champion_version"] == ""


def test_the_document_adds_the_dry_run_and_what_acting_did() -> None:
    dry = gate_document(RESULT, None)
    assert list(dry) == [*KEYS, "dry_run"] and dry["dry_run"] is True
    acted = gate_document(RESULT, Promotion("gate-run-1", promoted=True, previous=2))
    assert list(acted) == [*KEYS, "dry_run", "gate_run_id", "promoted", "previous"]
    assert (acted["dry_run"], acted["gate_run_id"], acted["previous"]) == (False, "gate-run-1", 2)


def test_the_gate_run_tags_and_metrics_come_from_the_checks() -> None:
    tags = check_tags(RESULT)
    assert tags["challenger_version"] == "3" and tags["champion_version"] == "2"
    assert tags["gate.verdict"] == "fail" and tags["gate.failed"] == "quality.ece"
    assert tags["approved_by"] == "alice"
    assert tags["check.quality.ece"] == "fail value=0.02 <= 0.01 rows=1000"
    metrics = check_metrics(RESULT)
    assert "check.shadow.mean_abs_diff" not in metrics  # no value: no metric
    assert metrics["check.absolute.roc_auc"] == 0.81 and metrics["champion.roc_auc"] == 0.8
