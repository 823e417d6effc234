"""Every check of the promotion gate can fail: each one fails here under the shipped thresholds
(approval, which ships off, under a config that requires it), and the replay's budget check
measures something a challenger can get wrong: spending the budget faster than the champion on
the same decision points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_policy_helpers import compiled

from monitoring import gate_rules as rules
from monitoring.behaviour import run_behaviour
from monitoring.config import load_config
from monitoring.replay import replay, spend_lead

EVERY_CHECK = {
    "approval",
    "absolute.roc_auc",
    "absolute.ece",
    "quality.roc_auc",
    "quality.ece",
    "drift.features",
    "drift.prediction",
    "behaviour.score_range",
    "behaviour.id_invariance",
    "behaviour.recent_complaint_raises_churn",
    "replay.budget",
    "replay.offer_mix",
    "replay.review_rate",
    "shadow.mean_abs_diff",
    "shadow.rank_correlation",
}


def _bad_churn_model(frame: pd.DataFrame) -> np.ndarray:
    """Scores above 1, a score that reads the id, and less churn after a complaint."""
    ids = frame["customer_id"].astype(str).str.len().to_numpy(dtype=float)
    return 1.5 - 0.1 * frame["complaints_90d"].to_numpy(dtype=float) + 0.01 * ids


def test_every_check_fails_under_the_shipped_thresholds() -> None:
    gate = load_config().gate_for("churn")
    behaviour_rows = pd.DataFrame(
        {
            "customer_id": ["1", "22", "333"],
            "complaints_90d": [0, 1, 2],
            "complaints_365d": [0, 1, 3],
            "days_since_last_complaint": [3650.0, 20.0, 5.0],
            "tier": ["basic", "gold", "basic"],
        }
    )
    behaviour = run_behaviour(_bad_churn_model, behaviour_rows, "churn", ["tier"], gate.behaviour)
    drift = {
        "current": {"rows_used": 500},
        "per_feature": [{"feature": "f0", "drifted": True}],
        "features": 1,
        "drifted_share": 1.0,
        "dataset_drift": True,
        "prediction": {"score": 0.6, "drifted": True},
    }
    replayed = {
        "decisions": 1000,
        "offers": 300,
        "review_rate": 0.05,
        "offer_mix_shift": 0.5,
        "review_rate_increase": 0.04,
        "budget_lead": {"lead": 0.7, "contract_id": None},
        "baseline": {"offers": 100, "review_rate": 0.01},
    }
    shadow = {"rows": gate.shadow.min_rows, "mean_abs_diff": 0.3, "rank_correlation": 0.1}
    checks = [
        rules.approval_check(True, [], None),  # shipped: not required; required, nobody signs
        *rules.absolute_checks(
            {"roc_auc": 0.6, "ece": 0.09, "rows": 100.0},
            gate.absolute.min_roc_auc,
            gate.absolute.max_ece,
        ),
        *rules.quality_checks(
            {"roc_auc": 0.80, "ece": 0.08, "rows": 100.0},
            {"roc_auc": 0.82, "ece": 0.05, "rows": 100.0},
            gate.quality.max_roc_auc_drop,
            gate.quality.max_ece_increase,
        ),
        *rules.drift_checks(drift, gate.drift.max_drifted_share, gate.drift.max_prediction_psi),
        *rules.behaviour_checks(behaviour),
        *rules.replay_checks(
            replayed,
            gate.replay.max_budget_lead,
            gate.replay.max_offer_mix_shift,
            gate.replay.max_review_rate_increase,
            gate.replay.required,
        ),
        *rules.shadow_checks(
            shadow,
            gate.shadow.min_rows,
            gate.shadow.max_mean_abs_diff,
            gate.shadow.min_rank_correlation,
            gate.shadow.required,
        ),
    ]
    assert {c.name for c in checks} == EVERY_CHECK
    assert [c.name for c in checks if c.verdict != "fail"] == []


# --- the budget check: spend that runs ahead of the champion's ---------------------------------


def _decisions(points: list[int], periods: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "contract_id": "C1",
            "customer_id": [f"c{i}" for i in range(len(points))],
            "time": pd.Timestamp("2025-09-01", tz="UTC"),
            "period": periods,
            "offer_id": ["A" if p else None for p in points],
            "points": points,
        }
    )


def test_spend_lead_is_the_largest_excess_of_the_running_spend() -> None:
    periods = ["2025Q3"] * 4 + ["2025Q4"] * 2
    candidate = _decisions([1000, 1000, 1000, 0, 1000, 0], periods)
    baseline = _decisions([0, 1000, 0, 1000, 0, 1000], periods)
    assert spend_lead(candidate, baseline, {"C1": 4000}) == {
        "lead": 0.5,  # after the third decision: 3000 against 1000 of 4000
        "contract_id": "C1",
        "period": "2025Q3",
        "decision": 3,
        "decisions": 4,
        "candidate_points": 3000,
        "baseline_points": 1000,
        "budget_points": 4000,
    }
    # the same total in the end is no excuse; a slower challenger leads by nothing
    assert spend_lead(baseline, candidate, {"C1": 4000})["lead"] == 0.0
    assert spend_lead(candidate, candidate, {"C1": 4000})["lead"] == 0.0
    with pytest.raises(ValueError, match="different rows"):
        spend_lead(candidate, baseline.iloc[:5], {"C1": 4000})


def _scorers(churn_of) -> dict:
    return {
        "churn": churn_of,
        "risk": lambda frame: np.full(len(frame), 0.05),
        "propensity": lambda pairs: np.where(pairs["offer_points_cost"] == 1000, 0.4, 0.5),
    }


def test_a_challenger_that_spends_the_budget_early_fails_only_the_budget_check() -> None:
    """The champion finds a customer worth offer A (1000 points) in one of four; the challenger
    in every one. Both spend the quarter's 10,000 points and grant only A, so the offer mix and
    the review rate agree; the challenger has spent it all after 10 customers, when the champion
    had spent 3,000."""
    rows = pd.DataFrame(
        {
            "customer_id": [f"c{i:02d}" for i in range(40)],
            "as_of": pd.Timestamp("2025-09-01", tz="UTC"),
            "partner_id": "P1",
            "tenure_days": 400.0,
            "tier": "gold",
            "consent_marketing": 1,
            "consent_data_sharing": 1,
            "segment": [1, 0, 0, 0] * 10,
        }
    )
    champion = _scorers(lambda frame: np.where(frame["segment"] == 1, 0.6, 0.1))
    challenger = _scorers(lambda frame: np.full(len(frame), 0.6))
    result = replay({"C-1": compiled()}, rows, challenger, champion)
    assert result["budget_lead"] == {
        "lead": 0.7,
        "contract_id": "C-1",
        "period": "2025Q3",
        "decision": 10,
        "decisions": 40,
        "candidate_points": 10_000,
        "baseline_points": 3_000,
        "budget_points": 10_000,
    }
    assert result["baseline"]["points"] == result["points"] == 10_000
    replay_config = load_config().gate_for("churn").replay
    checks = rules.replay_checks(
        result,
        replay_config.max_budget_lead,
        replay_config.max_offer_mix_shift,
        replay_config.max_review_rate_increase,
        replay_config.required,
    )
    assert rules.failed(checks) == ["replay.budget"]
    same = replay({"C-1": compiled()}, rows, champion, champion)
    assert same["budget_lead"]["lead"] == 0.0
