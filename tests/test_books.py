"""The books of a contract period: the service's own grants count toward caps and contact
windows (as ledger scopes, in the same atomic reservation), decisions stay in their period, a
backfill reserves nothing. Tiny literal inputs, exact answers, both ledger backends."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import pytest
from test_ledger_support import pg_url_fixture, sqlite_url_fixture, url_fixture  # noqa: F401
from test_policy_helpers import FEATURES, NOW, SCORES, compiled

from guardrails.decision import Request
from guardrails.engine import (
    BackfillBudget,
    Books,
    CountedReviews,
    DecisionContext,
    History,
    LedgerBudget,
    PeriodClosedError,
    QueueReviews,
    check_current_period,
    contact_state,
    count_lines,
    guard,
)
from guardrails.engine.book_reasons import refusal_reason
from guardrails.ledger import open_ledger
from guardrails.ledger.model import Line, Scope, ScopeKind
from guardrails.review import ReviewQueue

DAY = dt.timedelta(days=1)
CONSENTED = {**FEATURES, "consent_marketing": 1, "consent_data_sharing": 1, "partner_id": "P1"}


def _context(key: str, when: dt.datetime = NOW, history: History | None = None, cp=None):
    return DecisionContext(
        policy=cp or compiled(),
        customer_key="k1",
        features=CONSENTED,
        request=Request(when),
        history=history or History(),
        scores=SCORES,
        idempotency_key=key,
        decision_id=f"d-{key}",
    )


def test_count_lines_take_the_cap_and_todays_contact_less_what_others_reported() -> None:
    history = History(contacts={"sms": [NOW - 5 * DAY, NOW - 40 * DAY]}, sends=[("B", NOW)])
    cap, contact = count_lines(compiled(), "k1", "B", "2025Q1", NOW, history)
    assert (cap.scope.id, cap.amount, cap.limit, cap.window) == ("cap:k1%2FB:2025Q1", 1, 1, ())
    assert (contact.scope.id, contact.amount, contact.limit) == (
        "contact:k1%2Fsms:2025-03-01",
        1,
        1,  # 2 per 30 days, one reported in the window (the other is 40 days old)
    )
    assert len(contact.window) == 30
    assert contact.window[0] == "contact:k1%2Fsms:2025-02-28"
    assert contact.window[-1] == "contact:k1%2Fsms:2025-01-30"


def test_own_grants_count_toward_caps_and_contact_limits() -> None:
    books, reviews = Books(), CountedReviews()
    outcomes = [guard(_context(f"key-{n}"), books, reviews) for n in range(4)]
    assert [(g.status, g.decision.offer_id) for g in outcomes] == [
        ("approved", "A"),  # the best offer; its cap is 1 per quarter
        ("approved", "B"),
        ("approved", "B"),  # B's cap is 2
        ("no_offer", None),
    ]
    last = outcomes[-1].decision
    excluded = [(r.code, r.offer_id) for r in last.reasons if r.offer_id is not None]
    assert excluded == [("cap", "A"), ("contact_limit", "B")]  # 2 sms in 30 days: B's own
    # grants reach the channel's contact limit before its cap
    assert books.taken["cap:k1%2FA:2025Q1"] == 1
    assert books.taken["cap:k1%2FB:2025Q1"] == 2
    assert books.taken["contact:k1%2Fsms:2025-03-01"] == 2


def test_own_contacts_count_by_day_over_the_window_and_a_day_more() -> None:
    used = {"contact:k1%2Femail:2025-03-01": 2}
    cp = compiled()
    inside = contact_state(cp, History(), CONSENTED, "2025Q2", "k1", NOW + 30 * DAY, used)
    after = contact_state(cp, History(), CONSENTED, "2025Q2", "k1", NOW + 31 * DAY, used)
    assert (dict(inside.own_contacts), dict(after.own_contacts)) == ({"email": 2}, {})
    state = contact_state(cp, History(sends=[("A", NOW)]), CONSENTED, "2025Q1", "k1", NOW, {
        "cap:k1%2FA:2025Q1": 1, "cap:k1%2FB:2025Q1": 2,
    })  # fmt: skip
    assert dict(state.grants) == {"A": 2, "B": 2}  # reported sends plus own grants


def test_a_contact_window_line_counts_its_earlier_days_in_the_reservation(url: str) -> None:
    yesterday = Scope(ScopeKind.CONTACT, "k1/email", "2025-02-28")
    today = Scope(ScopeKind.CONTACT, "k1/email", "2025-03-01")
    lock = Scope(ScopeKind.CUSTOMER, "k1")
    with open_ledger(url) as ledger:
        first = ledger.reserve("k-1", "d-1", "x", [Line(lock, 0), Line(yesterday, 1, 2)], 60)
        line = Line(today, 1, 2, (yesterday.id,))
        second = ledger.reserve("k-2", "d-2", "x", [Line(lock, 0), line], 60)
        third = ledger.reserve("k-3", "d-3", "x", [Line(lock, 0), line], 60)
        assert (first.ok, second.ok, third.ok) == (True, True, False)
        assert third.rejected_scope == today.id
        ledger.release(first.id, "not sent")
        assert ledger.reserve("k-4", "d-4", "x", [Line(lock, 0), line], 60).ok


def test_the_ledger_counts_own_grants_across_decisions(url: str, tmp_path) -> None:
    with open_ledger(url) as ledger:
        reviews = QueueReviews(ReviewQueue(ledger))
        got = [
            guard(_context(f"key-{n}"), LedgerBudget(ledger, f"key-{n}"), reviews).decision
            for n in range(4)
        ]
        assert [d.offer_id for d in got] == ["A", "B", "B", None]
        assert {b.scope: b.reserved for b in ledger.balances(kind=ScopeKind.CAP)} == {
            "cap:k1%2FA:2025Q1": 1,
            "cap:k1%2FB:2025Q1": 2,
        }


def test_a_backfill_reads_the_books_and_reserves_nothing(url: str) -> None:
    with open_ledger(url) as ledger:
        guard(_context("key-1"), LedgerBudget(ledger, "key-1"), CountedReviews())
        before = ledger.balances()
        done = guard(_context("key-2"), BackfillBudget(ledger), CountedReviews())
        assert (done.status, done.decision.offer_id, done.granted) == ("simulated", "B", False)
        assert ledger.balances() == before


@pytest.mark.parametrize(
    ("when", "clock", "problem"),
    [
        (NOW, NOW, None),
        (dt.datetime(2025, 1, 1, tzinfo=dt.UTC), NOW, None),  # same quarter, earlier day
        (dt.datetime(2024, 12, 31, tzinfo=dt.UTC), NOW, "2024Q4 of contract C-1, which is closed"),
        (dt.datetime(2025, 4, 1, tzinfo=dt.UTC), NOW, "2025Q2 of contract C-1, which is not open"),
        # across a boundary within the skew tolerance: either side counts as current
        (dt.datetime(2025, 4, 1, 0, 1, tzinfo=dt.UTC), dt.datetime(2025, 3, 31, 23, 58), None),
        (dt.datetime(2025, 3, 31, 23, 58, tzinfo=dt.UTC), dt.datetime(2025, 4, 1, 0, 1), None),
    ],
)
def test_a_decision_reserves_only_in_the_current_period(when, clock, problem) -> None:
    cp = compiled()
    if problem is None:
        assert check_current_period(cp, when, clock.replace(tzinfo=dt.UTC), 300) in {
            "2025Q1",
            "2025Q2",
        }
        return
    with pytest.raises(PeriodClosedError) as info:
        check_current_period(cp, when, clock, 300)
    assert problem in info.value.problems[0]
    assert "current period, 2025Q1 by the service's clock" in info.value.problems[0]


def test_a_refused_reservation_names_the_rule_of_its_scope() -> None:
    cp = compiled()
    decision = guard(_context("key-1"), Books(), CountedReviews()).decision
    cases = {
        "cap:k1%2FA:2025Q1": ("cap", "The cap of offer A for this customer in 2025Q1"),
        "contact:k1%2Femail:2025-03-01": ("contact_limit", "contact limit by email"),
        "contract:C-1:2025Q1": ("budget", "scope contract:C-1:2025Q1 has not enough points"),
    }
    for scope_id, (code, words) in cases.items():
        reason = refusal_reason(cp, decision, scope_id)
        assert reason.code == code and words in reason.text


def test_a_granted_decision_says_what_it_drew_and_what_is_left() -> None:
    books = Books()
    first = guard(_context("key-1"), books, CountedReviews()).decision
    second = guard(_context("key-2"), books, CountedReviews()).decision
    assert [r.code for r in (first.reasons[-1], second.reasons[-1])] == ["books", "books"]
    assert first.reasons[-1].text == (
        "Reserved 1000 points (10.00 EUR) from the books; contract C-1 in 2025Q1: 9000 of 10000 "
        "points left; offer A: 0 more grant(s) to this customer in 2025Q1 (cap 1); 1 more email "
        "contact(s) in 30 days (limit 2)."
    )
    assert "8500 of 10000 points left" in second.reasons[-1].text


def test_partner_and_customer_lifetime_limits_bind_like_the_contracts() -> None:
    cp = compiled(
        **{"budget.partner_points_per_period": 10_000, "budget.customer_total_points": 1200}
    )
    books = Books()
    books.taken["partner:P1:2025Q1"] = 9_400  # the partner's other contracts spent the rest
    first = guard(_context("key-1", cp=cp), books, CountedReviews()).decision
    assert (first.offer_id, first.points) == ("B", 500)  # A (1000) exceeds what is left: 600
    assert books.taken["partner:P1:2025Q1"] == 9_900
    assert books.taken["customer:k1"] == 500
    books.taken["partner:P1:2025Q1"] = 0
    second = guard(_context("key-2", cp=cp), books, CountedReviews()).decision
    third = guard(_context("key-3", cp=cp), books, CountedReviews()).decision
    assert (second.offer_id, third.offer_id) == ("B", None)  # B's cap is 2, then A is short
    budget = [r.text for r in third.reasons if r.code == "budget"]
    assert budget == [  # the customer's lifetime 1200 leaves 200
        "Offer A needs 1000 points but only 200 remain this period; the contract's over-limit "
        "rule is 'reject'."
    ]


def test_contract_controls_pause_resume_and_audit(url: str) -> None:
    from features.errors import ConflictError
    from guardrails.ledger.stores import open_stores
    from guardrails.policy.controls import ContractControls

    with open_stores(url, audit_key=b"a" * 32, pseudonym_key=b"p" * 32) as stores:
        controls = ContractControls(stores.ledger.db, stores.audit, clock=lambda: 1_760_000_000.0)
        assert controls.paused("C-1") is None
        pause = controls.pause("C-1", "finance", "audit of Q3")
        assert (pause.by, pause.reason, pause.at.year) == ("finance", "audit of Q3", 2025)
        with pytest.raises(ConflictError, match="paused already"):
            controls.pause("C-1", "finance")
        assert controls.paused("C-2") is None  # one contract's pause is its own
        controls.resume("C-1", "cfo")
        assert controls.paused("C-1") is None
        with pytest.raises(ConflictError, match="not paused already"):
            controls.resume("C-1", "cfo")
        events = [(r.event, json.loads(r.body)["caller"]) for r in stores.audit.rows()]
        assert events == [("contract_pause", "finance"), ("contract_resume", "cfo")]
        assert stores.audit.verify().ok


def test_a_paused_context_is_no_offer_and_touches_no_books() -> None:
    from guardrails.policy.controls import Pause

    pause = Pause("C-1", NOW, "finance", None)
    books = Books()
    context = replace(_context("key-1"), paused=pause)
    done = guard(context, books, CountedReviews())
    assert (done.status, done.decision.offer_id, books.holds) == ("no_offer", None, 0)
    assert [r.code for r in done.decision.reasons] == ["paused"]


def test_a_top_up_mid_period_is_a_new_version_that_keeps_what_was_spent(url: str) -> None:
    """The budget scopes are the contract's per period, whatever the version: a top-up raises
    the limit of the same scope, so what was reserved before still counts."""
    small, topped = compiled(**{"budget.points_per_period": 1500}), compiled(**{
        "budget.points_per_period": 3000})  # fmt: skip
    assert small.version != topped.version
    with open_ledger(url) as ledger:
        reviews = CountedReviews()

        def decide(key: str, cp, customer: str):
            context = replace(_context(key, cp=cp), customer_key=customer)
            return guard(context, LedgerBudget(ledger, key), reviews).decision

        got = [decide("k1", small, "c1"), decide("k2", small, "c2")]
        assert [(d.offer_id, d.points) for d in got] == [("A", 1000), ("B", 500)]
        assert decide("k3", small, "c3").offer_id is None  # 1500 of 1500 reserved
        after = decide("k4", topped, "c4")
        assert (after.offer_id, after.points) == ("A", 1000)
        (balance,) = ledger.balances(kind=ScopeKind.CONTRACT, period="2025Q1")
        assert (balance.reserved, balance.limit) == (2500, 3000)


@pytest.mark.parametrize(
    ("carry", "expected"), [(True, ["A", "A", None]), (False, ["A", "B", None])]
)
def test_carry_over_adds_the_last_periods_unspent_points_once(carry, expected) -> None:
    cp = compiled(**{"budget.points_per_period": 1500, "budget.carry_over": carry})
    books = Books()
    april = dt.datetime(2025, 4, 2, tzinfo=dt.UTC)

    def decide(key: str, customer: str, when: dt.datetime):
        context = replace(_context(key, when=when, cp=cp), customer_key=customer)
        return guard(context, books, CountedReviews()).decision.offer_id

    assert decide("k1", "c1", NOW) == "A"  # 2025Q1 spends 1000 of 1500: 500 unspent
    assert [decide(f"k{n}", f"c{n}", april) for n in (2, 3, 4)] == expected
    limit = 2000 if carry else 1500
    assert books.taken["contract:C-1:2025Q2"] <= limit


@pytest.mark.parametrize(
    ("key", "kind", "before"),
    [("2025-01", "month", "2024-12"), ("2025-07", "month", "2025-06"),
     ("2025Q1", "quarter", "2024Q4"), ("2025Q3", "quarter", "2025Q2"), ("2025", "year", "2024")],
)  # fmt: skip
def test_previous_period(key: str, kind: str, before: str) -> None:
    from guardrails.periods import previous_period

    assert previous_period(key, kind) == before


def test_a_hold_straddling_the_period_end_is_charged_to_its_own_period(url: str) -> None:
    """Reserved on the quarter's last evening, committed after the next one began: the points
    stay in the quarter in which they were reserved."""
    march = dt.datetime(2025, 3, 31, 23, 0, tzinfo=dt.UTC).timestamp()
    with open_ledger(url) as ledger:
        done = guard(_context("key-1"), LedgerBudget(ledger, "key-1"), CountedReviews())
        assert done.hold is not None and done.decision.period == "2025Q1"
        ledger.commit(done.hold.id, now=march + 7200)  # 2025-04-01T01:00Z
        (q1,) = ledger.balances(kind=ScopeKind.CONTRACT, period="2025Q1")
        assert (q1.reserved, q1.committed) == (0, 1000)
        assert ledger.balances(kind=ScopeKind.CONTRACT, period="2025Q2") == []
