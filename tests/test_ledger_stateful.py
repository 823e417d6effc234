"""Hypothesis drives the ledger and a few-line in-memory model with the same random operations;
after every step their answers and their balances must agree (both backends)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from test_ledger_support import _admin_connect

from guardrails.ledger import (
    IdempotencyConflictError,
    InvalidTransitionError,
    Line,
    Scope,
    ScopeKind,
    Status,
    open_ledger,
)

LIMITS = {"contract": 12, "partner": 20, "customer": 6, "offer": 9}
# The model's own rules, written out independently of the ledger's code:
# (status, operation) -> (new status, sign of the held change, sign of the committed change)
MOVES = {
    (Status.HELD, "reserve"): (Status.HELD, 1, 0),
    (Status.HELD, "commit"): (Status.COMMITTED, -1, 1),
    (Status.HELD, "release"): (Status.RELEASED, -1, 0),
    (Status.HELD, "expire"): (Status.EXPIRED, -1, 0),
    (Status.COMMITTED, "reverse"): (Status.REVERSED, 0, -1),
}
REPEATS = {
    "commit": {Status.COMMITTED},
    "release": {Status.RELEASED, Status.EXPIRED},
    "reverse": {Status.REVERSED},
    "expire": {Status.RELEASED, Status.EXPIRED, Status.COMMITTED, Status.REVERSED},
}
TABLES = "ledger_entries, reservation_lines, scope_balances, reservations"


def lines_for(customer: int, offer: int, period: str, amount: int) -> list[Line]:
    return [
        Line(Scope(ScopeKind.CONTRACT, "C", period), amount, LIMITS["contract"]),
        Line(Scope(ScopeKind.PARTNER, "P"), amount, LIMITS["partner"]),
        Line(Scope(ScopeKind.CUSTOMER, f"c{customer}", period), amount, LIMITS["customer"]),
        Line(Scope(ScopeKind.OFFER, f"o{offer}", period), amount, LIMITS["offer"]),
    ]


class Model:
    """The ledger's meaning in plain dicts."""

    def __init__(self) -> None:
        self.by_key: dict[str, dict] = {}
        self.used: dict[str, list[int]] = {}

    def reserve(self, key: str, digest: str, lines: list[Line], expires: float) -> dict:
        if key in self.by_key:
            r = self.by_key[key]
            if r["digest"] != digest:
                raise IdempotencyConflictError(key)
            return r
        over = any(sum(self.used.get(ln.scope.id, [0, 0])) + ln.amount > ln.limit for ln in lines)
        r = {"digest": digest, "lines": lines, "expires": expires,
             "status": Status.REJECTED if over else Status.HELD}  # fmt: skip
        self.by_key[key] = r
        if not over:
            self._move(r, Status.HELD, "reserve")
        return r

    def _move(self, r: dict, status: Status, op: str) -> None:
        new, held, committed = MOVES[(status, op)]
        for ln in r["lines"]:
            u = self.used.setdefault(ln.scope.id, [0, 0])
            u[0], u[1] = u[0] + held * ln.amount, u[1] + committed * ln.amount
        r["status"] = new

    def settle(self, r: dict, op: str, now: float) -> str:
        if op == "commit" and r["status"] is Status.HELD and r["expires"] <= now:
            op = "expire"
        if op == "cancel":
            op = {Status.HELD: "release", Status.COMMITTED: "reverse"}.get(r["status"], "")
            if not op:
                return "noop"
        if (r["status"], op) in MOVES:
            self._move(r, r["status"], op)
        elif r["status"] not in REPEATS[op]:
            raise InvalidTransitionError(f"{op} from {r['status']}")
        return op


class LedgerMachine(RuleBasedStateMachine):
    url: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.ledger = open_ledger(self.url)
        self.ledger.db.run(lambda tx: _clear(tx, self.ledger.db.dialect))
        self.model, self.now, self.ids = Model(), 1000.0, {}

    @rule(key=st.sampled_from("abcdef"), digest=st.sampled_from(["x", "x", "y"]),
          customer=st.integers(0, 1), offer=st.integers(0, 1),
          period=st.sampled_from(["2025Q3", "2025Q4"]), amount=st.integers(0, 5),
          ttl=st.sampled_from([5.0, 50.0]))  # fmt: skip
    def reserve(self, key, digest, customer, offer, period, amount, ttl) -> None:
        lines = lines_for(customer, offer, period, amount)
        if key in self.model.by_key and self.model.by_key[key]["digest"] == digest:
            lines = self.model.by_key[key]["lines"]  # a retry sends the same payload
        try:
            expected = self.model.reserve(key, digest, lines, self.now + ttl)
        except IdempotencyConflictError:
            with pytest.raises(IdempotencyConflictError):
                self.ledger.reserve(key, "d", digest, lines, ttl, now=self.now)
            return
        got = self.ledger.reserve(key, "d", digest, lines, ttl, now=self.now)
        self.ids.setdefault(key, got.id)
        assert got.id == self.ids[key] and got.status is expected["status"]

    @precondition(lambda self: self.ids)
    @rule(key=st.sampled_from("abcdef"), op=st.sampled_from(["commit", "release", "reverse",
                                                             "cancel"]))  # fmt: skip
    def settle(self, key, op) -> None:
        if key not in self.ids:
            return
        call = {"commit": lambda i: self.ledger.commit(i, now=self.now),
                "release": lambda i: self.ledger.release(i, "r", now=self.now),
                "reverse": lambda i: self.ledger.reverse(i, "r", now=self.now),
                "cancel": lambda i: self.ledger.cancel(i, "r", now=self.now)}[op]  # fmt: skip
        try:
            done = self.model.settle(self.model.by_key[key], op, self.now)
        except InvalidTransitionError:
            with pytest.raises(InvalidTransitionError):
                call(self.ids[key])
            return
        if op == "commit" and done == "expire":
            with pytest.raises(InvalidTransitionError, match="expired"):
                call(self.ids[key])
            return
        assert call(self.ids[key]).status is self.model.by_key[key]["status"]

    @rule(dt=st.sampled_from([1.0, 10.0, 60.0]))
    def tick_and_expire(self, dt) -> None:
        self.now += dt
        expected = [r for r in self.model.by_key.values()
                    if r["status"] is Status.HELD and r["expires"] <= self.now]  # fmt: skip
        for r in expected:
            self.model.settle(r, "expire", self.now)
        assert self.ledger.expire(now=self.now) == len(expected)

    @invariant()
    def balances_agree(self) -> None:
        got = {b.scope: [b.reserved, b.committed] for b in self.ledger.balances()}
        want = self.model.used
        assert {s: v for s, v in got.items() if v != [0, 0]} == {
            s: v for s, v in want.items() if v != [0, 0]
        }
        assert self.ledger.reconcile() == []

    def teardown(self) -> None:
        self.ledger.close()


def _clear(tx, dialect: str) -> None:
    if dialect == "postgresql":
        tx.execute(f"TRUNCATE {TABLES}")
    else:
        for table in TABLES.split(", "):
            tx.execute(f"DELETE FROM {table}")


def _run(url: str, examples: int) -> None:
    LedgerMachine.url = url
    case = LedgerMachine.TestCase
    case.settings = settings(
        max_examples=examples, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )  # fmt: skip
    case("runTest").runTest()


def test_ledger_matches_the_model_sqlite() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _run(f"sqlite:///{Path(tmp) / 'ledger.db'}", examples=60)


@pytest.mark.postgres
def test_ledger_matches_the_model_postgresql() -> None:
    import uuid

    base, admin = _admin_connect()
    schema = f"t_ledger_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            _run(f"{base}?options=-csearch_path%3D{schema}", examples=25)
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
