"""The pure builders behind guardrails.engine.guard, on tiny literal inputs with exact answers."""

from __future__ import annotations

import datetime as dt

import pytest
from test_policy_helpers import FEATURES, NOW, SCORES, compiled

from guardrails.decision import Decision, Remaining, Request, Scores
from guardrails.engine import (
    HOLD_TTL_S,
    REVIEW_TTL_S,
    Books,
    CountedReviews,
    DecisionContext,
    History,
    Hold,
    budget_scope_ids,
    consent_of,
    contact_state,
    grants_in_period,
    guard,
    ledger_lines,
    remaining_from,
    review_request,
    scope_limits,
    status_of,
)
from guardrails.engine.budgets import held_amounts
from guardrails.ledger import ScopeLimits, Status
from guardrails.ledger.model import Line, Reservation, Scope, ScopeKind

JAN = dt.datetime(2025, 1, 5, tzinfo=dt.UTC)
APR = dt.datetime(2025, 4, 5, tzinfo=dt.UTC)


def _decision(route="approve", offer_id="A", points=1000) -> Decision:
    return Decision("C-1", "v1", "2025Q1", route, offer_id, points, 10.0, 1.0, ())


def test_grants_count_the_sends_of_the_decisions_period_only() -> None:
    sends = [("A", JAN), ("A", NOW), ("B", NOW), ("A", APR)]
    assert grants_in_period(sends, "quarter", "2025Q1") == {"A": 2, "B": 1}
    assert grants_in_period(sends, "month", "2025-04") == {"A": 1}
    assert grants_in_period([], "quarter", "2025Q1") == {}


@pytest.mark.parametrize(
    ("features", "expected"),
    [
        (
            {"consent_marketing": 1, "consent_data_sharing": 1, "partner_id": "P1"},
            (True, {"P1", "P2"}),
        ),
        ({"consent_marketing": 1, "partner_id": "P1"}, (True, {"P1"})),  # sharing unknown
        ({"consent_data_sharing": 0, "partner_id": "P1"}, (False, set())),  # withdrawn
        # the contract's own partner is not added for another partner's customer (one rule)
        ({"consent_data_sharing": 1, "partner_id": "P3"}, (False, {"P2", "P3"})),
        ({"consent_data_sharing": 1}, (False, {"P2"})),
    ],
)
def test_consent_uses_the_contracts_sharing_partners(features, expected) -> None:
    consent = consent_of(compiled(), features)
    assert (consent.marketing, set(consent.data_partners)) == expected


def test_contact_state_from_history() -> None:
    history = History(contacts={"email": [JAN]}, declines=[JAN], sends=[("A", JAN), ("B", APR)])
    features = {"consent_marketing": 1, "partner_id": "P1"}
    state = contact_state(compiled(), history, features, "2025Q1")
    assert state.contacts == {"email": [JAN]}
    assert list(state.declines) == [JAN]
    assert state.grants == {"A": 1}
    assert (state.consent.marketing, state.consent.data_partners) == (True, frozenset({"P1"}))
    assert state.consent.basis == (
        "marketing granted (the feature snapshot)",
        "data sharing not known (the feature snapshot)",
    )


def test_scope_limits_and_lines_carry_the_lifetime_total_and_no_partner_limit() -> None:
    cp = compiled(**{"budget.total_points": 30_000, "offers.0.points_per_period": 4000})
    assert scope_limits(cp, "A") == ScopeLimits(10_000, None, None, 4000, 30_000)
    lines = ledger_lines(cp, "k1", "A", "2025Q1", 1000)
    assert [(ln.scope.id, ln.amount, ln.limit) for ln in lines] == [
        ("contract:C-1:2025Q1", 1000, 10_000),
        ("partner:P1:2025Q1", 1000, None),
        ("partner:P1", 1000, None),
        ("customer:k1:2025Q1", 1000, None),
        ("customer:k1", 1000, None),
        ("offer:A:2025Q1", 1000, 4000),
        ("contract:C-1", 1000, 30_000),
        ("contract_money:C-1:2025Q1", 1000, None),  # 1000 x 0.01 EUR: tracked, not limited
    ]
    assert budget_scope_ids(cp, "k1", "2025Q1") == [
        "contract:C-1",
        "contract:C-1:2025Q1",
        "contract_money:C-1:2025Q1",
        "customer:k1",
        "customer:k1:2025Q1",
        "offer:A:2025Q1",
        "offer:B:2025Q1",
        "partner:P1",
        "partner:P1:2025Q1",
    ]


def test_remaining_takes_the_least_of_period_and_lifetime_left() -> None:
    cp = compiled(
        **{
            "budget.total_points": 30_000,
            "budget.customer_points_per_period": 1500,
            "offers.0.points_per_period": 4000,
        }
    )
    used = {"contract:C-1:2025Q1": 2000, "contract:C-1": 28_000, "customer:k1:2025Q1": 1000}
    assert remaining_from(cp, "k1", "2025Q1", used) == Remaining(2000, 500, {"A": 4000})
    assert remaining_from(cp, "k1", "2025Q1", {}) == Remaining(10_000, 1500, {"A": 4000})
    assert remaining_from(compiled(), "k1", "2025Q1", {}) == Remaining(10_000, None, {})


@pytest.mark.parametrize(
    ("route", "offer_id", "hold", "status"),
    [
        ("reject", None, None, "rejected"),
        ("approve", None, None, "no_offer"),
        ("approve", "A", Hold("h1", False, "contract:C-1:2025Q1"), "rejected"),
        ("approve", "A", Hold("h1", True), "approved"),
        ("review", "A", Hold("h1", True), "pending_review"),
    ],
)
def test_status_of_a_decision(route, offer_id, hold, status) -> None:
    assert status_of(_decision(route, offer_id), hold) == status


def _context(**changes) -> DecisionContext:
    values = {
        "policy": compiled(),
        "customer_key": "k1",
        "features": {
            **FEATURES,
            "consent_marketing": 1,
            "consent_data_sharing": 1,
            "partner_id": "P1",
        },
        "request": Request(NOW),
        "history": History(),
        "scores": SCORES,
        "idempotency_key": "key-1",
        "decision_id": "d-1",
    }
    return DecisionContext(**{**values, **changes})


def test_review_request_names_the_key_never_the_raw_id() -> None:
    got = review_request(_context(), _decision("review"), Hold("h1", True))
    assert (got.decision_id, got.hold_id, got.ttl_s, got.reason) == (
        "d-1",
        "h1",
        REVIEW_TTL_S,
        "risk 0.10",
    )
    assert dict(got.summary) == {
        "customer": "k1",
        "offer_id": "A",
        "points": 1000,
        "risk": 0.1,
        "contract_id": "C-1",
    }
    no_risk = _context(scores=Scores(None, None, {}))
    assert review_request(no_risk, _decision("review"), Hold("h1", True)).reason == "no risk score"


def test_held_amounts_count_only_a_held_reservation() -> None:
    line = Line(Scope(ScopeKind.CONTRACT, "C-1", "2025Q1"), 700, 10_000)
    held = Reservation("r1", "key-1", "d-1", "x", Status.HELD, (line,), 0.0, HOLD_TTL_S)
    assert held_amounts(held) == {"contract:C-1:2025Q1": 700}
    assert held_amounts(None) == {}
    released = Reservation("r1", "key-1", "d-1", "x", Status.RELEASED, (line,), 0.0, HOLD_TTL_S)
    assert held_amounts(released) == {}


def test_guard_with_books_reserves_the_lines_and_counts_reviews() -> None:
    books, reviews = Books(), CountedReviews()
    first = guard(_context(), books, reviews)
    assert (first.status, first.decision.offer_id, first.hold, first.review_id) == (
        "approved",
        "A",
        Hold("book-1", True),
        None,
    )
    assert books.taken == {
        "contract:C-1:2025Q1": 1000,
        "partner:P1:2025Q1": 1000,
        "partner:P1": 1000,
        "customer:k1:2025Q1": 1000,
        "customer:k1": 1000,
        "offer:A:2025Q1": 1000,
        "contract_money:C-1:2025Q1": 1000,  # minor units: 1000 x 0.01 EUR = 10.00 EUR
        "cap:k1%2FA:2025Q1": 1,
        "contact:k1%2Femail:2025-03-01": 1,
    }
    risky = Scores(churn=0.5, risk=0.5, propensity={"A": 0.4, "B": 0.5})
    second = guard(_context(scores=risky, idempotency_key="key-2"), books, reviews)
    assert (second.status, second.review_id, reviews.count) == ("pending_review", None, 1)
