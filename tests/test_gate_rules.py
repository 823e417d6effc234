"""The gate's rules and config on literal values, and the replay, shadow and quality arithmetic.
No registry, no Evidently: milliseconds."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.errors import InputError
from models.calibration import expected_calibration_error
from monitoring import gate_rules as rules
from monitoring.config import load_config
from monitoring.quality import by_window, window_metrics
from monitoring.replay import outcome, total_variation
from monitoring.shadow import agreement


@pytest.mark.parametrize(
    ("value", "threshold", "verdict"),
    [(0.70, 0.65, "pass"), (0.65, 0.65, "pass"), (0.64, 0.65, "fail"), (math.nan, 0.6, "fail")],
)
def test_at_least(value: float, threshold: float, verdict: str) -> None:
    check = rules.at_least("absolute.roc_auc", value, threshold, 100)
    assert check.verdict == verdict
    assert (check.threshold, check.comparison, check.rows) == (threshold, ">=", 100)


@pytest.mark.parametrize(
    ("value", "verdict"), [(0.01, "pass"), (0.02, "pass"), (0.0201, "fail"), (None, "fail")]
)
def test_at_most(value: float | None, verdict: str) -> None:
    assert rules.at_most("quality.ece", value, 0.02, 7).verdict == verdict


def test_quality_checks_compare_with_the_champion_on_the_same_rows() -> None:
    champion = {"roc_auc": 0.84, "ece": 0.05, "rows": 1000.0}
    worse = {"roc_auc": 0.82, "ece": 0.05, "rows": 1000.0}
    miscalibrated = {"roc_auc": 0.85, "ece": 0.08, "rows": 1000.0}
    checks = rules.quality_checks(worse, champion, 0.01, 0.02)
    assert [c.verdict for c in checks] == ["fail", "pass"]
    assert checks[0].value == pytest.approx(0.02)
    checks = rules.quality_checks(miscalibrated, champion, 0.01, 0.02)
    assert [c.verdict for c in checks] == ["pass", "fail"]
    first = rules.quality_checks(worse, None, 0.01, 0.02)
    assert [c.verdict for c in first] == ["skip", "skip"]


def test_absolute_checks_are_floors() -> None:
    checks = rules.absolute_checks({"roc_auc": 0.52, "ece": 0.03, "rows": 50.0}, 0.65, 0.08)
    assert rules.failed(checks) == ["absolute.roc_auc"]
    assert not rules.passed(checks)


@pytest.mark.parametrize(
    ("required", "approvers", "name", "verdict"),
    [
        (False, [], None, "skip"),
        (False, [], "bob", "pass"),
        (True, [], None, "fail"),
        (True, [], "  ", "fail"),
        (True, [], "bob", "pass"),
        (True, ["alice"], "mallory", "fail"),
        (True, ["alice"], "alice", "pass"),
    ],
)
def test_approval(required: bool, approvers: list[str], name: str | None, verdict: str) -> None:
    assert rules.approval_check(required, approvers, name).verdict == verdict


def _drift_summary(share: float, dataset_drift: bool, prediction: dict | None) -> dict:
    features = [{"feature": f"f{i}", "drifted": i < 3} for i in range(10)]
    return {
        "current": {"rows_used": 500},
        "per_feature": features,
        "features": 10,
        "drifted_share": share,
        "dataset_drift": dataset_drift,
        "prediction": prediction,
    }


def test_drift_verdicts_come_from_the_evidently_test_status_not_the_raw_value() -> None:
    # at the threshold Evidently's "lt" test fails (share >= max is drift): the rule follows it
    checks = rules.drift_checks(_drift_summary(0.3, True, None), 0.3, 0.25)
    assert checks[0].verdict == "fail"
    assert "f0, f1, f2" in checks[0].detail
    assert checks[1].verdict == "skip"
    pred = {"score": 0.4, "drifted": False}  # a p-value method: a high score is no drift
    checks = rules.drift_checks(_drift_summary(0.1, False, pred), 0.3, 0.25)
    assert [c.verdict for c in checks] == ["pass", "pass"]


def test_replay_checks() -> None:
    limits = (0.25, 0.15, 0.01, False)
    first = {"decisions": 100, "max_budget_share": 0.7, "baseline": None}
    assert [c.verdict for c in rules.replay_checks(first, *limits)] == ["skip", "skip", "skip"]
    lead = {
        "lead": 0.3,
        "contract_id": "C1",
        "period": "2025Q3",
        "decision": 40,
        "decisions": 100,
        "candidate_points": 9000,
        "baseline_points": 6000,
        "budget_points": 10000,
    }
    result = {
        "decisions": 100,
        "max_budget_share": 0.7,
        "offers": 10,
        "offer_mix_shift": 0.2,
        "review_rate": 0.05,
        "review_rate_increase": 0.04,
        "budget_lead": lead,
        "baseline": {"offers": 12, "review_rate": 0.01},
    }
    checks = rules.replay_checks(result, *limits)
    assert rules.failed(checks) == ["replay.budget", "replay.offer_mix", "replay.review_rate"]
    assert checks[0].value == 0.3
    assert checks[0].detail == (
        "C1 2025Q3: after 40 of 100 decisions the challenger had granted 9,000 points, "
        "the champion 6,000 (budget 10,000)"
    )
    calm = {**result, "budget_lead": {"lead": 0.0, "contract_id": None, "period": None}}
    assert rules.replay_checks(calm, *limits)[0].verdict == "pass"
    none = rules.replay_checks(None, *limits, reason="no policy")
    assert {c.verdict for c in none} == {"skip"}
    required = rules.replay_checks(None, 0.25, 0.15, 0.01, True, reason="no policy")
    assert {c.verdict for c in required} == {"fail"}


def test_shadow_checks_need_enough_rows() -> None:
    stats = {"rows": 300, "mean_abs_diff": 0.01, "rank_correlation": 0.99}
    assert {c.verdict for c in rules.shadow_checks(stats, 500, 0.05, 0.8, False)} == {"skip"}
    assert {c.verdict for c in rules.shadow_checks(stats, 500, 0.05, 0.8, True)} == {"fail"}
    assert {c.verdict for c in rules.shadow_checks(stats, 100, 0.05, 0.8, False)} == {"pass"}
    assert {c.verdict for c in rules.shadow_checks(None, 100, 0.05, 0.8, False)} == {"skip"}


def test_shadow_agreement_statistics() -> None:
    a = np.linspace(0, 1, 11)
    same = agreement(pd.DataFrame({"champion_score": a, "challenger_score": a}))
    assert same == {"rows": 11, "mean_abs_diff": 0.0, "max_abs_diff": 0.0, "rank_correlation": 1.0}
    flipped = agreement(pd.DataFrame({"champion_score": a, "challenger_score": a[::-1]}))
    assert flipped["rank_correlation"] == pytest.approx(-1.0)
    assert flipped["mean_abs_diff"] == pytest.approx(np.abs(a - a[::-1]).mean())
    assert agreement(None) is None


def test_total_variation_and_offer_mix() -> None:
    assert total_variation({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}) == 0.0
    assert total_variation({"a": 1.0}, {"b": 1.0}) == 1.0
    assert total_variation({"a": 0.6, "b": 0.4}, {"a": 0.4, "b": 0.6}) == pytest.approx(0.2)
    assert total_variation({}, {}) == 0.0
    assert total_variation({}, {"a": 1.0}) == 1.0
    decisions = pd.DataFrame(
        {
            "contract_id": ["C1", "C1", "C1", "C2"],
            "offer_id": ["O1", None, "O2", "O1"],
            "route": ["approve", "review", "approve", "reject"],
            "points": [100, 0, 50, 10],
        }
    )
    got = outcome(decisions)
    assert got["offer_mix"] == pytest.approx({"C1/O1": 1 / 3, "C1/O2": 1 / 3, "C2/O1": 1 / 3})
    assert (got["offers"], got["points"], got["review_rate"]) == (3, 160, 0.5)


@pytest.mark.parametrize(
    ("label", "score", "ece"),
    [
        ([1, 0, 0, 1], [0.05, 0.15, 0.85, 0.95], 0.5),  # one row per bin: mean |score - label|
        ([1, 0], [0.31, 0.39], 0.15),  # one bin: |0.70 - 1| over two rows
        ([0, 1], [0.0, 1.0], 0.0),  # a score of 1.0 falls in the last bin
    ],
)
def test_ece_is_row_weighted_over_ten_equal_bins(label, score, ece) -> None:
    """The one definition training's holdout and monitoring's windows share (models.calibration)."""
    got = expected_calibration_error(np.array(label), np.array(score))
    assert got == pytest.approx(ece)
    assert window_metrics(np.array(label), np.array(score))["ece"] == got


def test_quality_windows_report_what_they_cannot_score() -> None:
    config = load_config().quality
    snaps = pd.Series(["2025-01-01"] * 400 + ["2025-04-01"] * 10)
    label = np.array([0, 1] * 200 + [1] * 10)
    score = np.where(label == 1, 0.8, 0.2).astype(float)
    windows = by_window(snaps, label, score, config)
    assert [w["scored"] for w in windows] == [True, False]
    assert windows[0]["roc_auc"] == 1.0
    assert windows[0]["rows"] == 400
    assert "rows" in windows[1]["reason"]
    assert math.isnan(window_metrics(np.array([1, 1]), np.array([0.5, 0.6]))["roc_auc"])


# -- config -----------------------------------------------------------------------------------


def test_the_shipped_config_sets_every_threshold_and_kinds_override_it() -> None:
    config = load_config()
    assert config.drift.method == "psi_quantile"
    churn, risk = config.gate_for("churn"), config.gate_for("risk")
    assert risk.absolute.min_roc_auc > churn.absolute.min_roc_auc
    assert risk.quality.max_roc_auc_drop == churn.quality.max_roc_auc_drop
    assert [t.name for t in churn.behaviour.directional] == ["recent_complaint_raises_churn"]


def test_a_config_file_is_merged_over_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text("gate:\n  quality: {max_roc_auc_drop: 0.5}\n  kinds: {churn: {seed: 3}}\n")
    config = load_config(path)
    assert config.gate_for("churn").quality.max_roc_auc_drop == 0.5
    assert config.gate_for("churn").quality.max_ece_increase == 0.02  # default kept
    assert config.gate_for("churn").seed == 3
    assert config.gate_for("risk").seed == 42


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gate:\n  quality: {max_auc_drop: 0.1}\n", "max_auc_drop"),
        ("drift:\n  threshold: -1\n", "drift.threshold"),
        ("gate:\n  kinds: {fraud: {seed: 1}}\n", "fraud"),
        ("- just a list\n", "mapping"),
        ("gate: [\n", "YAML"),
    ],
)
def test_bad_config_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_config(path)


def test_shadow_rows_from_audit_records() -> None:
    from monitoring.shadow import audit_rows

    shadowed = {
        "at": "2025-09-02T10:00:00.000000+00:00",
        "customer": "p-1",
        "scores": {"churn": 0.4, "risk": 0.01, "shadow_churn": 0.45},
        "model_versions": {"churn": "loyalty-churn/3", "risk": "loyalty-risk/1"},
        "details": {"shadow_models": {"churn": "loyalty-churn/5"}},
    }
    plain = {**shadowed, "scores": {"churn": 0.4}, "details": {}}
    rows = audit_rows([shadowed, plain], "churn")
    assert rows.to_dict("records") == [
        {
            "scored_at": "2025-09-02T10:00:00.000000+00:00",
            "customer_id": "p-1",
            "champion_version": 3,
            "challenger_version": 5,
            "champion_score": 0.4,
            "challenger_score": 0.45,
        }
    ]
    assert audit_rows([shadowed], "risk").empty  # no shadow risk score recorded
