"""Every validation error path: each issue names the file, the YAML path and the value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from test_policy_helpers import BASE, DROP, doc
from typer.testing import CliRunner

from guardrails.policy import content_hash, validate_text
from guardrails.policy.loading import check_document
from loyalty.cli import app

runner = CliRunner()


def _issues(document, catalogue=None) -> list[tuple[str, str]]:
    text = document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False)
    result = validate_text(text, "p.yaml", catalogue)
    assert all(i.source == "p.yaml" for i in result.issues)
    return [(i.path, i.message) for i in result.issues]


def test_the_base_policy_is_valid() -> None:
    result = validate_text(yaml.safe_dump(BASE), "p.yaml")
    assert result.ok, result.issues
    assert result.compiled is not None and len(result.compiled.version) == 16


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [1, 2", "not valid YAML at line"),
        ("", "a policy is a mapping, not an empty file"),
        ("- 1\n- 2\n", "a policy is a mapping, not a list"),
        ("contract_id: A\ncontract_id: B\n", "key 'contract_id' given twice (line 2)"),
    ],
)
def test_documents_that_are_not_policies(text: str, message: str) -> None:
    [(path, found)] = _issues(text)
    assert path == "" and message in found


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        ({"colour": "red"}, "colour", "unknown key"),
        ({"budget.points": 5}, "budget.points", "unknown key"),
        ({"offers.0": {**BASE["offers"][0], "price": 1}}, "offers[0].price", "unknown key"),
        ({"budget.points_per_period": DROP}, "budget.points_per_period", "required key is missing"),
        ({"budget.points_per_period": "10000"}, "budget.points_per_period", "valid integer"),
        ({"budget.points_per_period": 1.5}, "budget.points_per_period", "valid integer"),
        ({"budget.points_per_period": True}, "budget.points_per_period", "valid integer"),
        ({"budget.points_per_period": 0}, "budget.points_per_period", "greater than 0"),
        ({"budget.cost_per_point": "0.01"}, "budget.cost_per_point", "valid number"),
        ({"budget.period": "week"}, "budget.period", "'month', 'quarter' or 'year'"),
        ({"budget.currency": "euro"}, "budget.currency", "should match pattern"),
        ({"format_version": 2}, "format_version", "Input should be 1"),
        ({"over_limit": "borrow"}, "over_limit", "'reject' or 'grant_remaining'"),
        ({"valid_from": "someday"}, "valid_from", "valid date"),
        ({"offers": []}, "offers", "at least 1 item"),
        ({"offers.0": {**BASE["offers"][0], "channel": "pigeon"}}, "offers[0].channel", "'email'"),
        (
            {"offers.0": {**BASE["offers"][0], "cap_per_customer_per_period": 0}},
            "offers[0].cap_per_customer_per_period",
            "greater than 0",
        ),
        (
            {"offers.0": {**BASE["offers"][0], "offer_id": "has space"}},
            "offers[0].offer_id",
            "pattern",
        ),
        (
            {"risk_routing.review_below": 1.5},
            "risk_routing.review_below",
            "less than or equal to 1",
        ),
        (
            {"consent.require_marketing_consent": "yes"},
            "consent.require_marketing_consent",
            "valid boolean",
        ),
        (
            {"contact_policy.per_channel": {"fax": {"count": 1, "window_days": 1}}},
            "contact_policy.per_channel.fax",
            "'email'",
        ),
        ({"eligibility": 30}, "eligibility", "valid string"),
    ],
)
def test_schema_errors(changes: dict, path: str, message: str) -> None:
    issues = _issues(doc(**changes))
    assert any(p == path and message in m for p, m in issues), issues


def test_a_schema_error_shows_the_value() -> None:
    result = validate_text(yaml.safe_dump(doc(**{"budget.points_per_period": "lots"})), "p.yaml")
    [issue] = result.issues
    assert str(issue) == (
        "p.yaml: budget.points_per_period: Input should be a valid integer (value: 'lots')"
    )


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        (
            {"offers.1": {**BASE["offers"][0]}},
            "offers[1].offer_id",
            "duplicate offer id (already used at offers[0])",
        ),
        ({"valid_to": "2024-06-01"}, "valid_to", "must be after valid_from (2025-01-01)"),
        (
            {"blackouts": [{"from": "2025-05-02", "to": "2025-05-01"}]},
            "blackouts[0].to",
            "ends before it starts",
        ),
        (
            {"risk_routing.approve_below": 0.8},
            "risk_routing.approve_below",
            "thresholds out of order",
        ),
        (
            {"budget.money_per_period": 101.0},
            "budget.money_per_period",
            "can never be reached: points_per_period x cost_per_point = 100.00 EUR and no offer "
            "pays a money_value",
        ),
        ({"budget.total_points": 5000}, "budget.total_points", "less than one period's budget"),
        (
            {"budget.total_points": 90_000},
            "budget.total_points",
            "exceeds what 8 quarter(s) can spend (80000)",
        ),
        (
            {"budget.customer_points_per_period": 20_000},
            "budget.customer_points_per_period",
            "exceeds the contract's",
        ),
        (
            {"budget.customer_points_per_period": 800},
            "offers[0].points_cost",
            "exceeds budget.customer_points_per_period (800)",
        ),
        (
            {"offers.0": {**BASE["offers"][0], "points_cost": 20_000}},
            "offers[0].points_cost",
            "can never be granted",
        ),
        (
            {"offers.0": {**BASE["offers"][0], "points_per_period": 500}},
            "offers[0].points_cost",
            "exceeds offers[0].points_per_period (500)",
        ),
        (
            {"offers.0": {**BASE["offers"][0], "points_per_period": 50_000}},
            "offers[0].points_per_period",
            "exceeds the contract's",
        ),
        (
            {"budget.total_points": 40_000, "budget.customer_total_points": 50_000},
            "budget.customer_total_points",
            "exceeds the contract's total_points (40000)",
        ),
        (
            {"budget.customer_points_per_period": 2000, "budget.customer_total_points": 1500},
            "budget.customer_total_points",
            "is less than one period's customer_points_per_period (2000)",
        ),
        (
            {"budget.partner_points_per_period": 9000},
            "budget.partner_points_per_period",
            "is less than the contract's own points_per_period (10000)",
        ),
    ],
)
def test_cross_field_errors(changes: dict, path: str, message: str) -> None:
    issues = _issues(doc(**changes))
    assert any(p == path and message in m for p, m in issues), issues


def test_budgets_that_add_up_pass() -> None:
    ok = doc(**{"budget.money_per_period": 100.0, "budget.total_points": 80_000})
    assert _issues(ok) == []


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        ({"eligibility": "customer.tenure_days >="}, "eligibility", "CEL does not compile"),
        (
            {"eligibility": "customer.tenure_dayz >= 30"},
            "eligibility",
            "unknown feature 'customer.tenure_dayz'",
        ),
        ({"eligibility": "offer.points_cost > 1"}, "eligibility", "unknown variable 'offer'"),
        ({"eligibility": "foo > 1"}, "eligibility", "unknown variable 'foo'"),
        (
            {"eligibility": "request.weather == 'rain'"},
            "eligibility",
            "unknown field 'request.weather'",
        ),
        ({"eligibility": 'customer["tier"] == "gold"'}, "eligibility", "with a dot"),
        (
            {"eligibility": "customer.tier > 3"},
            "eligibility",
            "does not give true or false on neutral feature values",
        ),
        ({"eligibility": "customer.tenure_days"}, "eligibility", "gave 3650.0, not true or false"),
        (
            {"offers.1.suitability": "offer.price > 1"},
            "offers[1].suitability",
            "unknown field 'offer.price'",
        ),
        (
            {"offers.1.applicability": "customer.tenure_days + 1 > 2"},
            "offers[1].applicability",
            "does not give true or false",
        ),
    ],
)
def test_expression_errors(changes: dict, path: str, message: str) -> None:
    issues = _issues(doc(**changes))
    assert any(p == path and message in m for p, m in issues), issues


def test_comprehension_variables_and_strings_are_not_references() -> None:
    text = '["a", "b"].exists(x, x == customer.tier) && request.channel != "customer.nope"'
    assert _issues(doc(eligibility=text)) == []


def test_feature_references_against_a_feature_contract() -> None:
    catalogue = {"tier": {"dtype": "category", "neutral": "unknown"}}
    issues = _issues(doc(), catalogue)
    assert issues == [("eligibility", "unknown feature 'customer.tenure_days'")]


def test_the_version_ignores_layout_and_comments_but_not_meaning() -> None:
    a = check_document(BASE, "a").policy
    reordered = yaml.safe_load("# a comment\n" + yaml.safe_dump(BASE, sort_keys=True))
    b = check_document(reordered, "b").policy
    c = check_document(doc(**{"budget.points_per_period": 10_001}), "c").policy
    assert a is not None and b is not None and c is not None
    assert content_hash(a) == content_hash(b) != content_hash(c)
    ints = check_document(doc(**{"offers.0": {**BASE["offers"][0], "value_to_program": 100}}), "d")
    assert ints.policy is not None and content_hash(ints.policy) == content_hash(a)


# --- the command line -------------------------------------------------------------------------


def _write(tmp_path: Path, document: dict, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_cli_validate_exit_codes(tmp_path: Path) -> None:
    good = _write(tmp_path, BASE)
    result = runner.invoke(app, ["policy", "validate", str(good)])
    assert result.exit_code == 0, result.output
    assert "valid:" in result.output and "contract C-1" in result.output
    bad = _write(tmp_path, doc(**{"risk_routing.approve_below": 0.9, "colour": 1}), "bad.yaml")
    result = runner.invoke(app, ["policy", "validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: colour: unknown key" in result.output
    result = runner.invoke(app, ["policy", "validate", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "no such policy file" in result.output
    result = runner.invoke(app, ["policy", "validate"])
    assert result.exit_code == 2


def test_cli_validate_json_and_feature_contract(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE)
    contract = tmp_path / "feature_contract.json"
    contract.write_text(
        json.dumps(
            {
                "version": "x",
                "features": [{"name": "tier", "dtype": "category", "neutral": "unknown"}],
            }
        )
    )
    result = runner.invoke(
        app, ["policy", "validate", str(path), "--contract", str(tmp_path), "--json"]
    )
    assert result.exit_code == 1
    body = json.loads(result.output)
    assert body["valid"] is False
    assert body["issues"] == [
        {
            "source": str(path),
            "path": "eligibility",
            "message": "unknown feature 'customer.tenure_days'",
            "value": "'customer.tenure_days >= 30'",
        }
    ]
    result = runner.invoke(
        app, ["policy", "validate", str(path), "--contract", str(tmp_path / "no.json")]
    )
    assert result.exit_code == 2 and "no such feature contract" in result.output
    contract.write_text("{not json")
    result = runner.invoke(app, ["policy", "validate", str(path), "--contract", str(contract)])
    assert result.exit_code == 2 and "not a feature contract" in result.output
