"""Money as a budget scope: integer minor units, an award's money is its points x cost per point
plus the offer's money value, money limits per scope bind like points limits, online and
offline. Tiny literal policies, exact answers."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
import yaml
from test_books import _context
from test_ledger_support import pg_url_fixture, sqlite_url_fixture, url_fixture  # noqa: F401
from test_policy_helpers import NOW, compiled, doc

from guardrails.engine import Books, CountedReviews, LedgerBudget, guard
from guardrails.ledger import open_ledger
from guardrails.ledger.model import ScopeKind, ScopeLimits, decision_lines
from guardrails.money import award_minor, format_minor, to_minor
from guardrails.policy import validate_text


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [(12.5, "EUR", 1250), (0.1 + 0.2, "EUR", 30), (0.005, "EUR", 1), (1500, "JPY", 1500),
     (1.2345, "BHD", 1235), (19.99, "USD", 1999)],
)  # fmt: skip
def test_to_minor_rounds_half_up_in_the_currencys_unit(amount, currency, minor) -> None:
    assert to_minor(amount, currency) == minor


def test_award_money_is_points_times_cost_per_point_plus_money_value() -> None:
    assert award_minor(333, 0.0125, 0.0, "EUR") == 416  # 4.1625 EUR, rounded once
    assert award_minor(400, 0.01, 2.5, "EUR") == 650
    assert format_minor(123_456, "EUR") == "1,234.56 EUR"
    assert format_minor(500, "JPY") == "500 JPY"


def test_money_lines_twin_the_contract_period_always_and_other_scopes_where_limited() -> None:
    lines = decision_lines(
        contract_id="C", partner_id="P", customer_key="k", offer_id="O", period="2025Q3",
        amount=5, limits=ScopeLimits(contract=100), money=650,
        money_limits=ScopeLimits(customer=2000, offer_lifetime=9000),
    )  # fmt: skip
    money = {ln.scope.id: (ln.amount, ln.limit) for ln in lines if ln.scope.kind.unit == "money"}
    assert money == {
        "contract_money:C:2025Q3": (650, None),
        "customer_money:k:2025Q3": (650, 2000),
        "offer_money:O": (650, 9000),
    }
    assert ScopeKind.CUSTOMER_MONEY.owner is ScopeKind.CUSTOMER
    assert ScopeKind.OFFER.in_money is ScopeKind.OFFER_MONEY


def _decide(cp, books, key: str, customer: str, when: dt.datetime = NOW):
    context = replace(_context(key, when=when, cp=cp), customer_key=customer)
    return guard(context, books, CountedReviews()).decision


def test_the_contracts_money_limit_binds_before_its_points() -> None:
    """Offer A: 1000 points (10.00 EUR) + 5.00 EUR money value = 15.00 EUR; 40.00 EUR a quarter
    buys two, although the 10,000 points would buy ten."""
    cp = compiled(**{"budget.money_per_period": 40.0, "offers.0.money_value": 5.0,
                     "offers.1.suitability": None, "offers.1.value_to_program": 0.0})  # fmt: skip
    books = Books()
    first, second, third = (_decide(cp, books, f"k{n}", f"c{n}") for n in (1, 2, 3))
    assert [(d.offer_id, d.points, d.cost) for d in (first, second)] == [("A", 1000, 15.0)] * 2
    assert third.offer_id is None
    (excluded,) = [r for r in third.reasons if r.offer_id == "A"]
    assert excluded.text == (
        "Offer A costs 15.00 EUR but only 10.00 EUR remain this period; the contract's "
        "over-limit rule is 'reject'."
    )
    assert books.taken["contract_money:C-1:2025Q1"] == 3000
    assert books.taken["contract:C-1:2025Q1"] == 2000
    assert "(15.00 EUR)" in first.reasons[-1].text
    assert "contract C-1 in 2025Q1: 25.00 EUR of 40.00 EUR left" in first.reasons[-1].text


def test_grant_remaining_grants_the_points_the_money_left_pays_for() -> None:
    cp = compiled(**{"budget.money_per_period": 22.0, "offers.0.money_value": 5.0,
                     "offers.0.value_to_program": 1000.0, "over_limit": "grant_remaining",
                     "offers.1.suitability": None, "offers.1.value_to_program": 0.0})  # fmt: skip
    books = Books()
    first, second = (_decide(cp, books, f"k{n}", f"c{n}") for n in (1, 2))
    assert (first.points, second.points) == (1000, 200)  # 7.00 EUR left: 5.00 + 200 x 0.01
    assert "partial_grant" in second.codes()
    assert books.taken["contract_money:C-1:2025Q1"] == 2200


def test_the_customers_money_limit_counts_every_offer_of_theirs() -> None:
    cp = compiled(**{"budget.customer_money_per_period": 12.0, "offers.1.suitability": None})
    books = Books()
    first = _decide(cp, books, "k1", "c1")  # A: 1000 points = 10.00 EUR (the better EV)
    second = _decide(cp, books, "k2", "c1", NOW + dt.timedelta(days=1))
    assert (first.offer_id, second.offer_id) == ("A", None)
    assert [r.text for r in second.reasons if r.offer_id == "B"] == [
        "Offer B costs 5.00 EUR but only 2.00 EUR remain this period; the contract's "
        "over-limit rule is 'reject'."
    ]
    assert books.taken["customer_money:c1:2025Q1"] == 1000


def test_carry_over_carries_money_too() -> None:
    cp = compiled(**{"budget.money_per_period": 15.0, "budget.carry_over": True,
                     "offers.1.suitability": None, "offers.1.value_to_program": 0.0})  # fmt: skip
    books = Books()
    april = dt.datetime(2025, 4, 2, tzinfo=dt.UTC)
    assert _decide(cp, books, "k1", "c1").offer_id == "A"  # 2025Q1: 10.00 of 15.00 EUR
    granted = [_decide(cp, books, f"k{n}", f"c{n}", april).offer_id for n in (2, 3, 4)]
    assert granted == ["A", "A", None]  # 15.00 + 5.00 carried = 20.00 EUR: two of A


def test_the_ledger_refuses_a_money_scope_atomically(url: str) -> None:
    cp = compiled(**{"budget.money_per_period": 10.0})
    with open_ledger(url) as ledger:
        first = guard(_context("key-1", cp=cp), LedgerBudget(ledger, "key-1"), CountedReviews())
        assert first.decision.offer_id == "A"
        (money,) = ledger.balances(kind=ScopeKind.CONTRACT_MONEY, period="2025Q1")
        assert (money.reserved, money.limit) == (1000, 1000)
        other = replace(_context("key-2", cp=cp), customer_key="k2")
        second = guard(other, LedgerBudget(ledger, "key-2"), CountedReviews())
        assert second.decision.offer_id is None  # no money left for A nor B


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        ({"budget.customer_money_per_period": 200.0}, "budget.customer_money_per_period",
         "exceeds the contract's money_per_period (100.00 EUR)"),
        ({"budget.total_money": 50.0}, "budget.total_money",
         "is less than one period's money_per_period (100.00 EUR)"),
        ({"budget.money_per_period": 150.0}, "budget.money_per_period",
         "can never be reached: points_per_period x cost_per_point = 100.00 EUR and no offer "
         "pays a money_value"),
        ({"offers.0.money_per_period": 5.0, "offers.0.money_value": 1.0},
         "offers[0].money_per_period", "can never be granted: one award costs 11.00 EUR"),
        ({"budget.customer_total_money": 5.0, "budget.customer_money_per_period": 10.0},
         "budget.customer_total_money",
         "is less than one period's customer_money_per_period (10.00 EUR)"),
        ({"budget.partner_money_per_period": 50.0}, "budget.partner_money_per_period",
         "is less than the contract's own money_per_period (100.00 EUR): the contract could "
         "never spend its budget"),
        ({"budget.customer_total_money": 150.0, "budget.total_money": 120.0},
         "budget.customer_total_money", "exceeds the contract's total_money (120.00 EUR)"),
    ],
)  # fmt: skip
def test_validate_checks_money_limits_are_coherent(changes, path, message) -> None:
    text = yaml.safe_dump(doc(**{"budget.money_per_period": 100.0, **changes}))
    issues = validate_text(text, "p.yaml").issues
    assert [(i.path, i.message) for i in issues] == [(path, message)]


def test_a_money_limit_below_the_points_budget_is_a_valid_choice() -> None:
    text = yaml.safe_dump(doc(**{"budget.money_per_period": 99.0}))
    assert validate_text(text, "p.yaml").ok


def test_budget_lines_hold_exactly_the_scopes_an_award_of_each_offer_draws_on() -> None:
    """The cached shared part plus the customer's part equals the union of every offer's award
    lines (amounts 0), money limits and lifetimes included."""
    from guardrails.engine.builders import budget_lines, ledger_lines

    cp = compiled(**{"budget.money_per_period": 40.0, "budget.customer_money_per_period": 12.0,
                     "budget.customer_total_money": 30.0, "offers.1.total_money": 90.0,
                     "budget.total_points": 30_000, "offers.0.total_points": 5000})  # fmt: skip
    union = {
        (ln.scope.id, ln.limit)
        for co in cp.offers
        for ln in ledger_lines(cp, "k9", co.offer.offer_id, "2025Q1", 0)
    }
    lines = budget_lines(cp, "k9", "2025Q1")
    assert {(ln.scope.id, ln.limit) for ln in lines} == union
    assert len(lines) == len(union)
    assert budget_lines(cp, "k8", "2025Q1")[-1].scope.key == "k8"  # the cache is not per customer
