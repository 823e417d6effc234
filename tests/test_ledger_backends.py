"""The ledger's contract, run against both backends (SQLite file, PostgreSQL schema)."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from test_ledger_support import (  # noqa: F401
    Raw,
    invariant_problems,
    pg_url_fixture,
    sqlite_url_fixture,
    url_fixture,
)

from guardrails.ledger import (
    IdempotencyConflictError,
    InvalidTransitionError,
    LedgerUnavailableError,
    ReservationNotFoundError,
    ScopeKind,
    ScopeLimits,
    Status,
    decision_lines,
    open_ledger,
)
from guardrails.ledger.schema import MIGRATIONS

LIMITS = ScopeLimits(contract=100, partner=1000, customer=20, offer=50)
T0 = 1_750_000_000.0


def lines(customer: str = "p_a", amount: int = 10, period: str = "2025Q3", offer: str = "O1"):
    return decision_lines(
        contract_id="C1", partner_id="P1", customer_key=customer, offer_id=offer,
        period=period, amount=amount, limits=LIMITS,
    )  # fmt: skip


def used(ledger, scope: str) -> tuple[int, int]:
    (b,) = [b for b in ledger.balances() if b.scope == scope]
    return b.reserved, b.committed


def test_reserve_commit_release_reverse(url: str) -> None:
    with open_ledger(url) as ledger:
        a = ledger.reserve("k1", "d1", "x", lines(), ttl_s=60, now=T0)
        b = ledger.reserve("k2", "d2", "x", lines("p_b"), ttl_s=60, now=T0)
        assert a.ok and a.status is Status.HELD and not a.replayed
        assert used(ledger, "contract:C1:2025Q3") == (20, 0)
        assert ledger.commit(a.id, now=T0 + 1).status is Status.COMMITTED
        assert ledger.commit(a.id, now=T0 + 2).status is Status.COMMITTED  # repeat: no-op
        assert ledger.release(b.id, "offer withdrawn", now=T0 + 1).status is Status.RELEASED
        assert used(ledger, "contract:C1:2025Q3") == (0, 10)
        reversed_ = ledger.reverse(a.id, "customer returned the item", now=T0 + 3)
        assert reversed_.status is Status.REVERSED and reversed_.reason
        assert used(ledger, "contract:C1:2025Q3") == (0, 0)
        with pytest.raises(InvalidTransitionError, match="release"):
            ledger.reverse(b.id, "x")
        with pytest.raises(ReservationNotFoundError):
            ledger.commit("nope")
        assert ledger.reconcile() == []
    raw = Raw(url)
    assert invariant_problems(raw) == []
    ops = raw.all("SELECT operation FROM ledger_entries WHERE reservation_id = ?", (a.id,))
    assert sorted({o for (o,) in ops}) == ["commit", "reserve", "reverse"]  # nothing deleted
    raw.close()


def test_retry_returns_first_outcome_and_reserves_nothing_more(url: str) -> None:
    with open_ledger(url) as ledger:
        first = ledger.reserve("k", "d", "digest-1", lines(), ttl_s=60, now=T0)
        again = ledger.reserve("k", "d", "digest-1", lines(), ttl_s=60, now=T0 + 5)
        assert again.replayed and again.id == first.id and again.status is Status.HELD
        assert used(ledger, "customer:p_a:2025Q3") == (10, 0)
        with pytest.raises(IdempotencyConflictError, match="different payload"):
            ledger.reserve("k", "d", "digest-2", lines(), ttl_s=60)
        ledger.commit(first.id, now=T0 + 6)
        later = ledger.reserve("k", "d", "digest-1", lines(), ttl_s=60, now=T0 + 7)
        assert later.replayed and later.status is Status.COMMITTED
        assert used(ledger, "customer:p_a:2025Q3") == (0, 10)


def test_over_limit_rejects_atomically_and_the_rejection_replays(url: str) -> None:
    with open_ledger(url) as ledger:
        ledger.reserve("k1", "d1", "x", lines(amount=15), ttl_s=60)
        before = {b.scope: (b.reserved, b.committed) for b in ledger.balances()}
        r = ledger.reserve("k2", "d2", "x", lines(amount=6), ttl_s=60)  # customer: 15+6 > 20
        assert not r.ok and r.rejected_scope == "customer:p_a:2025Q3"
        assert {b.scope: (b.reserved, b.committed) for b in ledger.balances()} == before
        ledger.release(ledger.find("k1").id)
        again = ledger.reserve("k2", "d2", "x", lines(amount=6), ttl_s=60)
        assert again.replayed and again.status is Status.REJECTED  # the decision stands
        assert ledger.reconcile() == []


def test_expiry_releases_overdue_holds_only(url: str) -> None:
    with open_ledger(url) as ledger:
        short = ledger.reserve("k1", "d1", "x", lines(), ttl_s=10, now=T0)
        long = ledger.reserve("k2", "d2", "x", lines("p_b"), ttl_s=100, now=T0)
        assert ledger.expire(now=T0 + 9) == 0
        assert ledger.expire(now=T0 + 10) == 1
        assert ledger.get(short.id).status is Status.EXPIRED
        assert ledger.get(long.id).status is Status.HELD
        with pytest.raises(InvalidTransitionError, match="expired"):
            ledger.commit(short.id, now=T0 + 11)
        # a hold past its TTL that the sweep has not reached yet cannot be committed either
        with pytest.raises(InvalidTransitionError, match="expired before its commit"):
            ledger.commit(long.id, now=T0 + 100)
        assert ledger.get(long.id).status is Status.EXPIRED
        assert ledger.reconcile() == []


def test_extend_and_cancel(url: str) -> None:
    with open_ledger(url) as ledger:
        r = ledger.reserve("k1", "d1", "x", lines(), ttl_s=10, now=T0)
        assert ledger.extend(r.id, T0 + 500, now=T0 + 1).expires_at == T0 + 500
        assert ledger.expire(now=T0 + 100) == 0
        assert ledger.cancel(r.id, "orchestrator cancelled", now=T0 + 2).status is Status.RELEASED
        c = ledger.reserve("k2", "d2", "x", lines(), ttl_s=10, now=T0)
        ledger.commit(c.id, now=T0 + 1)
        assert ledger.cancel(c.id, "cancelled after send", now=T0 + 2).status is Status.REVERSED
        assert ledger.cancel(c.id, "again", now=T0 + 3).status is Status.REVERSED
        with pytest.raises(InvalidTransitionError, match="extend"):
            ledger.extend(c.id, T0 + 900)


def test_reversal_after_the_period_closed_returns_budget_to_that_period(url: str) -> None:
    with open_ledger(url) as ledger:
        q3 = ledger.reserve("k1", "d1", "x", lines(amount=15, period="2025Q3"), ttl_s=60)
        ledger.commit(q3.id)
        q4 = ledger.reserve("k2", "d2", "x", lines("p_b", amount=15, period="2025Q4"), ttl_s=60)
        ledger.commit(q4.id)
        ledger.reverse(q3.id, "returned after the quarter closed")
        assert used(ledger, "contract:C1:2025Q3") == (0, 0)
        assert used(ledger, "contract:C1:2025Q4") == (0, 15)
        assert used(ledger, "partner:P1") == (0, 15)  # the partner scope has no period
        some = ledger.balances_of(["contract:C1:2025Q4", "offer:never-used", "partner:P1"])
        assert {s: b.committed for s, b in some.items()} == {
            "contract:C1:2025Q4": 15,
            "partner:P1": 15,
        }
        q3_balances = ledger.balances(kind=ScopeKind.CONTRACT, period="2025Q3")
        assert [b.scope for b in q3_balances] == ["contract:C1:2025Q3"]
        assert q3_balances[0].available == 100


def test_migrations_are_versioned_and_idempotent(url: str) -> None:
    open_ledger(url).close()
    open_ledger(url).close()  # a second open applies nothing twice
    raw = Raw(url)
    versions = raw.all("SELECT version, name FROM schema_version ORDER BY version")
    assert versions == [(m.version, m.name) for m in MIGRATIONS]
    raw.close()


def test_sqlite_is_durable_wal_full(sqlite_url: str) -> None:
    with open_ledger(sqlite_url) as ledger:
        conn = ledger.db._connect()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_sqlite_waits_out_a_held_write_lock(sqlite_url: str) -> None:
    ledger = open_ledger(sqlite_url)
    ledger.db.busy_timeout_s = 0.05  # so the retry loop, not only SQLite's wait, is exercised
    ledger.db.close()
    blocker = sqlite3.connect(
        sqlite_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
    )
    blocker.execute("BEGIN IMMEDIATE")
    threading.Timer(0.4, lambda: blocker.execute("COMMIT")).start()
    start = time.monotonic()
    r = ledger.reserve("k", "d", "x", lines(), ttl_s=60)
    assert r.ok and time.monotonic() - start >= 0.3
    ledger.db.deadline_s = 0.3
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(LedgerUnavailableError, match="busy"):
            ledger.reserve("k2", "d", "x", lines(), ttl_s=60)
    finally:
        blocker.execute("COMMIT")
        blocker.close()
        ledger.close()


def test_unreachable_or_unknown_database_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(LedgerUnavailableError, match="cannot reach"):
        open_ledger("postgresql://postgres@127.0.0.1:1/test?connect_timeout=2")
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(LedgerUnavailableError, match="not a usable"):
        open_ledger(f"sqlite:///{tmp_path / 'junk.db'}")
    with pytest.raises(Exception, match="unsupported ledger URL"):
        open_ledger("mysql://x")


def _terminate_own_backend(tx, admin_url: str) -> None:
    """Have the server end this transaction's connection, as a shutdown or a cut would."""
    import psycopg

    (pid,) = tx.one("SELECT pg_backend_pid()")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(psycopg.OperationalError):
        tx.one("SELECT 1")


def test_a_dropped_connection_is_retried_whatever_error_the_driver_reports(pg_url: str) -> None:
    """psycopg may report a connection lost mid-exchange as a missing result (InternalError)
    rather than an OperationalError; once the connection is closed it is an outage all the
    same: reconnect and rerun the unit, never a 500."""
    import psycopg

    from guardrails.ledger.postgres_db import PostgresDatabase

    db = PostgresDatabase(pg_url)
    attempts = []

    def unit(tx):
        attempts.append(1)
        if len(attempts) == 1:
            _terminate_own_backend(tx, pg_url)
            raise psycopg.InternalError("got no result from the query")
        return tx.one("SELECT 41 + 1")[0]

    try:
        assert db.run(unit) == 42
        assert len(attempts) == 2
    finally:
        db.close()


def test_a_dropped_connection_with_the_server_gone_is_ledger_unavailable(pg_url: str) -> None:
    import psycopg

    from guardrails.ledger.postgres_db import PostgresDatabase

    db = PostgresDatabase(pg_url, connect_timeout_s=2)

    def unit(tx):
        _terminate_own_backend(tx, pg_url)
        db.url = "postgresql://postgres@127.0.0.1:1/test"  # the server does not come back
        raise psycopg.InterfaceError("cannot execute operations: the connection is lost")

    with pytest.raises(LedgerUnavailableError, match="cannot reach the ledger database"):
        db.run(unit)
    db.close()


def test_a_driver_error_on_a_live_connection_is_not_taken_for_an_outage(pg_url: str) -> None:
    import psycopg

    from guardrails.ledger.postgres_db import PostgresDatabase

    db = PostgresDatabase(pg_url)
    try:
        with pytest.raises(psycopg.errors.UndefinedTable):
            db.run(lambda tx: tx.one("SELECT * FROM no_such_table"))
        assert db.run(lambda tx: tx.one("SELECT 1")[0]) == 1
    finally:
        db.close()
