"""Pure ledger rules: period keys, scope ids, limit checks, state transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from guardrails.ledger import (
    InvalidTransitionError,
    Line,
    Scope,
    ScopeKind,
    ScopeLimits,
    Status,
    decision_lines,
    period_key,
)
from guardrails.ledger.model import first_over_limit, normalize_lines, transition


@pytest.mark.parametrize(
    ("ts", "kind", "key"),
    [
        (datetime(2025, 7, 1, tzinfo=UTC), "month", "2025-07"),
        (datetime(2025, 9, 30, 23, 59, 59, tzinfo=UTC), "quarter", "2025Q3"),
        (datetime(2025, 10, 1, tzinfo=UTC), "quarter", "2025Q4"),
        (datetime(2025, 1, 1, tzinfo=UTC), "quarter", "2025Q1"),
        (datetime(2025, 12, 31, tzinfo=UTC), "year", "2025"),
        # 00:30 on 1 October in UTC+2 is still 30 September in UTC: the quarter is Q3
        (datetime(2025, 10, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))), "quarter", "2025Q3"),
    ],
)
def test_period_key(ts: datetime, kind: str, key: str) -> None:
    assert period_key(ts, kind) == key


def test_period_key_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="week"):
        period_key(datetime(2025, 1, 1, tzinfo=UTC), "week")


@pytest.mark.parametrize(
    "scope",
    [
        Scope(ScopeKind.CONTRACT, "C-1", "2025Q3"),
        Scope(ScopeKind.PARTNER, "P:1"),
        Scope(ScopeKind.CUSTOMER, "a:b/c%", "2025-07"),
    ],
)
def test_scope_id_round_trips_and_never_clashes(scope: Scope) -> None:
    assert Scope.parse(scope.id) == scope
    assert scope.id.count(":") == (2 if scope.period else 1)


def test_decision_lines_cover_every_scope_kind() -> None:
    lines = decision_lines(
        contract_id="C", partner_id="P", customer_key="p_1", offer_id="O", period="2025Q3",
        amount=5, limits=ScopeLimits(contract=100, partner=None, customer=10, offer=50,
                                     contract_lifetime=1000),
    )  # fmt: skip
    ids = {ln.scope.id: (ln.amount, ln.limit) for ln in lines}
    assert ids == {
        "contract:C:2025Q3": (5, 100),
        "partner:P:2025Q3": (5, None),
        "partner:P": (5, None),
        "customer:p_1:2025Q3": (5, 10),
        "customer:p_1": (5, None),
        "offer:O:2025Q3": (5, 50),
        "contract:C": (5, 1000),
    }


def test_normalize_sorts_and_refuses_duplicates() -> None:
    a, b = Scope(ScopeKind.OFFER, "O"), Scope(ScopeKind.CONTRACT, "C")
    assert [ln.scope for ln in normalize_lines([Line(a, 1), Line(b, 1)])] == [b, a]
    with pytest.raises(ValueError, match="twice"):
        normalize_lines([Line(a, 1), Line(a, 2)])
    with pytest.raises(ValueError, match="at least one"):
        normalize_lines([])
    with pytest.raises(ValueError, match=">= 0"):
        Line(a, -1)


def test_first_over_limit_checks_every_limited_scope() -> None:
    c, o = Scope(ScopeKind.CONTRACT, "C"), Scope(ScopeKind.OFFER, "O")
    lines = [Line(c, 5, 10), Line(o, 5, None)]
    assert first_over_limit(lines, {c.id: 5, o.id: 10**9}) is None  # exactly at the limit
    assert first_over_limit(lines, {c.id: 6}) == c.id


@pytest.mark.parametrize(
    ("status", "op", "new"),
    [
        (Status.HELD, "commit", Status.COMMITTED),
        (Status.HELD, "release", Status.RELEASED),
        (Status.HELD, "expire", Status.EXPIRED),
        (Status.COMMITTED, "reverse", Status.REVERSED),
        (Status.COMMITTED, "commit", None),
        (Status.EXPIRED, "release", None),
        (Status.REVERSED, "reverse", None),
    ],
)
def test_transitions(status: Status, op: str, new: Status | None) -> None:
    assert transition(status, op) == new


@pytest.mark.parametrize(
    ("status", "op"),
    [
        (Status.RELEASED, "commit"),
        (Status.COMMITTED, "release"),
        (Status.HELD, "reverse"),
        (Status.REJECTED, "commit"),
    ],
)
def test_forbidden_transitions_say_why(status: Status, op: str) -> None:
    with pytest.raises(InvalidTransitionError, match=f"cannot {op}"):
        transition(status, op)
