"""Policy simulation over a literal feature table: who gets what, budget burn, rules that bind."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_policy_helpers import compiled, doc
from typer.testing import CliRunner

from features.errors import InputError
from guardrails.decision import Consent
from guardrails.policy.simulation import row_times, scores_from_columns, simulate
from loyalty.cli import app

runner = CliRunner()
ROWS = [  # customer, as_of, marketing consent
    ("c1", "2025-02-01", 1),
    ("c2", "2025-02-01", 0),
    ("c1", "2025-02-02", 1),
    ("c3", "2025-02-03", 1),
    ("c4", "2025-02-04", 1),
    ("c4", "2025-04-01", 1),
]
BUDGET = {"budget.points_per_period": 2000}


def _frame() -> pd.DataFrame:
    frame = pd.DataFrame(ROWS, columns=["customer_id", "as_of", "consent_marketing"])
    frame["as_of"] = pd.to_datetime(frame["as_of"], utc=True)
    return frame.assign(
        tenure_days=400.0,
        tier="gold",
        consent_data_sharing=1,
        partner_id="P1",
        churn=0.5,
        risk=0.1,
        propensity=0.4,
        **{"propensity:B": 0.5},
    )


def _run(frame: pd.DataFrame, **changes):
    cp = compiled(**{**BUDGET, **changes})
    scores = scores_from_columns(frame, ["A", "B"])
    return simulate(cp, frame, scores, row_times(frame, None))


def test_budget_caps_and_consent_in_time_order() -> None:
    decisions, summary = _run(_frame())
    assert list(zip(decisions["customer_id"], decisions["offer_id"].fillna("-"), strict=True)) == [
        ("c1", "A"),
        ("c2", "-"),
        ("c1", "B"),  # A's cap of 1 per quarter is used
        ("c3", "B"),  # 500 points left: A does not fit
        ("c4", "-"),  # the quarter's budget is spent
        ("c4", "A"),  # a new quarter
    ]
    assert summary["offers"] == 4 and summary["no_offer"] == 2
    assert summary["by_offer"] == {
        "A": {"grants": 2, "points": 2000},
        "B": {"grants": 2, "points": 1000},
    }
    assert summary["budget_burn"] == [
        {"period": "2025Q1", "points": 2000, "money": 20.0, "budget_points": 2000, "share": 1.0},
        {"period": "2025Q2", "points": 1000, "money": 10.0, "budget_points": 2000, "share": 0.5},
    ]
    assert summary["rule_binds"] == {
        "budget@over_limit": 3,
        "cap@offers[0].cap_per_customer_per_period": 1,
        "consent_marketing@consent.require_marketing_consent": 1,
        "no_offer@arbitration": 1,
    }
    assert summary["routes"] == {"approve": 5, "none": 1}  # the one without consent: unscored


def test_contact_limits_count_the_simulated_sends() -> None:
    frame = _frame().assign(consent_marketing=1)
    frame["as_of"] = pd.Timestamp("2025-05-01", tz="UTC") + pd.to_timedelta(range(6), unit="D")
    frame["customer_id"] = "c1"
    cp_changes = {
        "budget.points_per_period": 100_000,
        "offers.0.cap_per_customer_per_period": 9,
        "contact_policy.max_contacts": {"count": 2, "window_days": 30},
    }
    decisions, summary = _run(frame, **cp_changes)
    assert decisions["offer_id"].fillna("-").tolist() == ["A", "A", "B", "B", "-", "-"]
    assert (
        summary["rule_binds"]["contact_limit@contact_policy.max_contacts"] == 1 + 1 + 2 * 2
    )  # A on days 3-4, both on days 5-6


def test_score_columns_are_required_and_named_in_the_error() -> None:
    with pytest.raises(InputError, match="scores need the columns risk, propensity"):
        scores_from_columns(pd.DataFrame({"churn": [0.1]}), ["A"])
    with pytest.raises(InputError, match="give the decision time with --at"):
        row_times(pd.DataFrame({"x": [1]}), None)
    at = dt.datetime(2025, 1, 5, tzinfo=dt.UTC)
    assert row_times(pd.DataFrame({"x": [1, 2]}), at) == [at, at]


@pytest.mark.parametrize(
    ("features", "marketing", "partners"),
    [
        (
            {"consent_marketing": 1, "consent_data_sharing": 1, "partner_id": "P1"},
            True,
            {"P1", "P2", "P3"},
        ),
        ({"consent_marketing": 1, "consent_data_sharing": -1, "partner_id": "P1"}, True, {"P1"}),
        ({"consent_marketing": -1, "consent_data_sharing": 0, "partner_id": "P1"}, False, set()),
        ({}, False, set()),
    ],
)
def test_consent_from_features(features, marketing, partners) -> None:
    consent = Consent.from_features(features, ["P2", "P3"])
    assert consent.marketing is marketing and consent.data_partners == partners


# --- the command line -------------------------------------------------------------------------


def test_cli_simulate_with_scores_file_and_out(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(yaml.safe_dump(doc(**BUDGET)))
    frame = _frame()
    frame.drop(columns=["churn", "risk", "propensity", "propensity:B"]).to_parquet(
        tmp_path / "f.parquet"
    )
    frame[["customer_id", "as_of", "churn", "risk", "propensity", "propensity:B"]].drop_duplicates(
        ["customer_id", "as_of"]
    ).to_parquet(tmp_path / "s.parquet")
    args = ["policy", "simulate", str(policy), "--features", str(tmp_path / "f.parquet")]
    args += ["--as-of", "all"]  # every row is a decision point at its own time
    result = runner.invoke(
        app,
        [*args, "--scores", str(tmp_path / "s.parquet"), "--json", "--out", str(tmp_path / "out")],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["offers"] == 4
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == summary
    assert len(pd.read_parquet(tmp_path / "out" / "decisions.parquet")) == 6
    text = runner.invoke(app, [*args, "--scores", str(tmp_path / "s.parquet")])
    assert "2025Q1          2,000 of 2,000 points (100.0%)" in text.output
    last = runner.invoke(app, [*args[:-2], "--scores", str(tmp_path / "s.parquet"), "--json"])
    assert json.loads(last.output)["rows_simulated"] == 1  # default: the latest as_of only
    missing = runner.invoke(app, args)
    assert (
        missing.exit_code == 2
        and "scores need the columns churn, risk, propensity" in missing.output
    )


def test_cli_simulate_the_active_policy_of_a_contract(tmp_path: Path) -> None:
    env = {"LOYALTY_HOME": str(tmp_path / "home")}
    policy = tmp_path / "p.yaml"
    policy.write_text(yaml.safe_dump(doc(**BUDGET)))
    assert runner.invoke(app, ["policy", "apply", str(policy)], env=env).exit_code == 0
    _frame().drop(columns=["as_of"]).to_parquet(tmp_path / "f.parquet")
    args = ["policy", "simulate", "C-1", "--features", str(tmp_path / "f.parquet"), "--json"]
    result = runner.invoke(app, [*args, "--at", "2025-02-01"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["budget_burn"][0]["period"] == "2025Q1"
    assert runner.invoke(app, [*args, "--at", "soon"], env=env).exit_code == 2
    result = runner.invoke(
        app, ["policy", "simulate", "C-9", "--features", str(tmp_path / "f.parquet")], env=env
    )
    assert result.exit_code == 2 and "neither a policy file nor a contract" in result.output
