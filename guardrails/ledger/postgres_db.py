"""The several-hosts backend: PostgreSQL through psycopg 3, one connection per process.

The connection runs in autocommit mode, so a single statement (the ``ledger_reserve`` function)
is one round trip and one transaction; multi-statement work runs in an explicit transaction.
Deadlocks, serialization failures and a dropped connection are retried a bounded number of
times: every unit of work is idempotent (keys, state checks), so a retry is safe.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from guardrails.ledger.db import Database, Tx
from guardrails.ledger.model import LedgerUnavailableError

T = TypeVar("T")

_RETRY_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization, deadlock, lock not available
_ATTEMPTS = 8


def _redact(url: str) -> str:
    """The URL without a password, for messages."""
    head, sep, tail = url.partition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, userinfo = head.partition("//")
    return f"{scheme}//{userinfo.split(':', 1)[0]}:***@{tail}"


class PostgresDatabase(Database):
    """One autocommit psycopg connection guarded by a lock; reopened after a fork or a drop."""

    dialect = "postgresql"

    def __init__(self, url: str, *, connect_timeout_s: int = 5) -> None:
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self._lock = threading.RLock()
        self._conn: Any = None
        self._pid = -1

    @property
    def for_update(self) -> str:
        return " FOR UPDATE"

    def connection(self) -> Any:
        """The live connection of this process (opened on first use)."""
        import psycopg

        if self._conn is not None and self._pid == os.getpid() and not self._conn.closed:
            return self._conn
        try:
            self._conn = psycopg.connect(
                self.url, autocommit=True, connect_timeout=self.connect_timeout_s
            )
        except psycopg.Error as exc:  # refused, timed out, or dropped during the handshake
            raise LedgerUnavailableError(
                f"cannot reach the ledger database {_redact(self.url)}: {exc}".strip()
            ) from exc
        self._pid = os.getpid()
        return self._conn

    def run(self, fn: Callable[[Tx], T], *, write: bool = True) -> T:
        def unit() -> T:
            conn = self.connection()
            with conn.transaction(), conn.cursor() as cur:
                return fn(Tx(cur, "%s"))

        return self._with_retry(unit)

    def call(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        """One statement in its own transaction: a single round trip to the server."""

        def unit() -> list[tuple]:
            with self.connection().cursor() as cur:
                cur.execute(sql, tuple(params))
                return list(cur.fetchall())

        return self._with_retry(unit)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.call(sql.replace("%", "%%").replace("?", "%s"), params)

    def _with_retry(self, unit: Callable[[], T]) -> T:
        import psycopg

        with self._lock:
            for attempt in range(_ATTEMPTS):
                try:
                    return unit()
                except psycopg.errors.Error as exc:
                    retry = _retryable(exc, self._conn)
                    if not retry or attempt == _ATTEMPTS - 1:
                        if isinstance(exc, psycopg.OperationalError) or _dropped(self._conn):
                            raise LedgerUnavailableError(
                                f"ledger database {_redact(self.url)} failed: {exc}"
                            ) from exc
                        raise
                    time.sleep(0.002 * (2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None


def _dropped(conn: Any) -> bool:
    """The connection is gone (server shut down, network cut): whatever the driver raised."""
    return conn is None or conn.closed


def _retryable(exc: Exception, conn: Any) -> bool:
    """A conflict the server asks us to retry, or any error on a connection that dropped.

    A connection that dies mid-exchange does not always surface as OperationalError: psycopg
    may report a missing result (InternalError, ProgrammingError, InterfaceError) first. Once
    the connection is closed, the error is an outage whatever its class."""
    if getattr(exc, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    return _dropped(conn)
