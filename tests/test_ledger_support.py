"""Shared fixtures and helpers for the ledger, review and audit tests (no tests here).

The PostgreSQL fixtures use the real server on 127.0.0.1:5432, one fresh schema per test; they
skip, loudly, only when the server cannot be reached at all. The invariant checker reads the
database directly with its own SQL, independent of the product's reconciliation.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN_URLS = (
    [os.environ["LOYALTY_TEST_PG_URL"]]
    if os.environ.get("LOYALTY_TEST_PG_URL")
    else ["postgresql://postgres@127.0.0.1:5432/test", "postgresql://root@127.0.0.1:5432/test"]
)

# What each final status implies about a reservation's journal (operation -> one entry per line).
EXPECTED_OPS = {
    "held": {"reserve"},
    "committed": {"reserve", "commit"},
    "released": {"reserve", "release"},
    "expired": {"reserve", "expire"},
    "reversed": {"reserve", "commit", "reverse"},
    "rejected": set(),
}


def _admin_connect(what: str = "PostgreSQL ledger tests"):
    import psycopg

    errors = []
    for url in PG_ADMIN_URLS:
        try:
            return url, psycopg.connect(url, autocommit=True, connect_timeout=3)
        except psycopg.OperationalError as exc:
            errors.append(f"{url}: {exc}".strip())
    pytest.skip(f"POSTGRESQL UNREACHABLE - {what} SKIPPED: " + " | ".join(errors))


def fresh_schema(prefix: str, what: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema on the shared server, dropped afterwards; a loud
    skip naming ``what`` when no server answers."""
    base, admin = _admin_connect(what)
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield f"{base}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(name="pg_url")
def pg_url_fixture() -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped after the test."""
    yield from fresh_schema("t_ledger", "PostgreSQL ledger tests")


@pytest.fixture(name="sqlite_url")
def sqlite_url_fixture(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture(
    name="url", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def url_fixture(request: pytest.FixtureRequest) -> str:
    """Each test using it runs against both backends."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return request.getfixturevalue(name)


class Raw:
    """A plain connection to the ledger database, for reading (and tampering) directly."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            self.conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
            self.ph = "?"
        else:
            import psycopg

            self.conn = psycopg.connect(url, autocommit=True)
            self.ph = "%s"

    def all(self, sql: str, params: tuple = ()) -> list[tuple]:
        return list(self.conn.execute(sql.replace("?", self.ph), params).fetchall())

    def execute(self, sql: str, params: tuple = ()) -> None:
        self.conn.execute(sql.replace("?", self.ph), params)

    def snapshot_begin(self) -> None:
        if self.ph == "?":
            self.conn.execute("BEGIN")
        else:
            self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def close(self) -> None:
        self.conn.close()


def invariant_problems(raw: Raw) -> list[str]:
    """Every ledger invariant, checked on one consistent snapshot of the raw tables."""
    raw.snapshot_begin()
    try:
        bal = {
            s: (lim, r, c)
            for s, lim, r, c in raw.all(
                "SELECT scope, limit_amount, reserved, committed FROM scope_balances"
            )
        }
        ent = {
            s: (int(r), int(c))
            for s, r, c in raw.all(
                "SELECT scope, SUM(reserved_delta), SUM(committed_delta) FROM ledger_entries "
                "GROUP BY scope"
            )
        }
        by_status = raw.all(
            "SELECT l.scope, r.status, SUM(l.amount) FROM reservation_lines l "
            "JOIN reservations r ON r.id = l.reservation_id GROUP BY l.scope, r.status"
        )
        ops = raw.all(
            "SELECT r.id, r.status, e.operation, COUNT(e.seq), "
            "(SELECT COUNT(*) FROM reservation_lines l WHERE l.reservation_id = r.id) "
            "FROM reservations r LEFT JOIN ledger_entries e ON e.reservation_id = r.id "
            "GROUP BY r.id, r.status, e.operation"
        )
        orphans = raw.all(
            "SELECT COUNT(*) FROM ledger_entries e WHERE NOT EXISTS "
            "(SELECT 1 FROM reservations r WHERE r.id = e.reservation_id)"
        )[0][0]
        lineless = raw.all(
            "SELECT COUNT(*) FROM reservations r WHERE NOT EXISTS "
            "(SELECT 1 FROM reservation_lines l WHERE l.reservation_id = r.id)"
        )[0][0]
    finally:
        raw.execute("COMMIT")
    return _compare(bal, ent, by_status, ops, orphans, lineless)


def _compare(bal, ent, by_status, ops, orphans, lineless) -> list[str]:
    out = []
    live: dict[str, list[int]] = {}
    for scope, status, amount in by_status:
        t = live.setdefault(scope, [0, 0])
        if status == "held":
            t[0] += int(amount)
        elif status == "committed":
            t[1] += int(amount)
    for scope, (limit, reserved, committed) in bal.items():
        if limit is not None and reserved + committed > limit:
            out.append(f"{scope}: held {reserved} + committed {committed} > limit {limit}")
        if reserved < 0 or committed < 0:
            out.append(f"{scope}: negative balance")
        if ent.get(scope, (0, 0)) != (reserved, committed):
            out.append(f"{scope}: balance {(reserved, committed)} != entries {ent.get(scope)}")
        if tuple(live.get(scope, (0, 0))) != (reserved, committed):
            out.append(f"{scope}: balance {(reserved, committed)} != lines {live.get(scope)}")
    for scope in set(ent) - set(bal):
        out.append(f"{scope}: entries without a balance row")
    seen: dict[str, set] = {}
    for rid, status, op, count, n_lines in ops:
        seen.setdefault((rid, status), set())
        if op is not None:
            seen[(rid, status)].add(op)
            if count != n_lines:
                out.append(f"reservation {rid}: {count} {op} entries for {n_lines} lines")
    for (rid, status), got in seen.items():
        if got != EXPECTED_OPS[status]:
            out.append(f"reservation {rid} is {status} but its journal has {sorted(got)}")
    if orphans:
        out.append(f"{orphans} journal entries without a reservation")
    if lineless:
        out.append(f"{lineless} reservations without lines")
    return out


def key_lines(key: str, limits: dict[str, int]) -> list:
    """Deterministic lines for a key (the same in every process: no hash randomization)."""
    from guardrails.ledger import Line, Scope, ScopeKind

    h = zlib.crc32(key.encode())
    period = "2025Q3" if h % 5 else "2025Q4"
    amount = 1 + h % 4
    return [
        Line(Scope(ScopeKind.CONTRACT, "C1", period), amount, limits["contract"]),
        Line(Scope(ScopeKind.PARTNER, "P1"), amount, limits["partner"]),
        Line(Scope(ScopeKind.CUSTOMER, f"p_{h % 4}", period), amount, limits["customer"]),
        Line(Scope(ScopeKind.OFFER, f"O{h % 2}", period), amount, limits["offer"]),
    ]
