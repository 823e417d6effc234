"""One small database seam for the ledger, the review queue and the audit trail.

Both backends expose ``run(fn)``: ``fn`` gets a :class:`Tx` inside one write transaction and is
rerun from the start when the database asks for a retry (SQLite busy, PostgreSQL deadlock or
serialization failure), so every unit of work must be safe to repeat. SQL is written once with
``?`` placeholders; the PostgreSQL backend rewrites them to ``%s``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from guardrails.ledger.model import LedgerError

T = TypeVar("T")


class Tx:
    """A cursor inside one transaction, with ``?`` placeholders on both backends."""

    def __init__(self, cursor: Any, placeholder: str) -> None:
        self._cursor = cursor
        self._ph = placeholder
        self._cache: dict[str, str] = {}

    def _sql(self, sql: str) -> str:
        if self._ph == "?":
            return sql
        out = self._cache.get(sql)
        if out is None:
            out = self._cache[sql] = sql.replace("%", "%%").replace("?", self._ph)
        return out

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(self._sql(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._cursor.executemany(self._sql(sql), [tuple(r) for r in rows])

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        self.execute(sql, params)
        return self._cursor.fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        self.execute(sql, params)
        return list(self._cursor.fetchall())


def in_list(values: Sequence[Any]) -> str:
    """``(?, ?, ?)`` for an IN clause of that many values."""
    return "(" + ", ".join("?" * len(values)) + ")"


class Database(ABC):
    """A connection to the ledger database, safe to share between threads of one process."""

    dialect: str
    url: str

    @property
    def for_update(self) -> str:
        """Row-lock suffix for a SELECT; SQLite needs none (BEGIN IMMEDIATE holds the writer)."""
        return ""

    @abstractmethod
    def run(self, fn: Callable[[Tx], T], *, write: bool = True) -> T:
        """Run ``fn`` in one transaction, rerunning it on a retryable conflict."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """The rows of one read-only statement (``?`` placeholders): a backend may run it
        without an explicit transaction (one round trip on PostgreSQL)."""
        return self.run(lambda tx: tx.all(sql, params), write=False)

    def ping(self) -> None:
        """Raise when the database does not answer (readiness probes)."""
        self.query("SELECT 1")

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sqlite_path(url: str) -> Path:
    """The file of an ``sqlite:///path`` URL (``sqlite:////abs/path`` for an absolute path)."""
    path = url.removeprefix("sqlite:///")
    if not path or path == url:
        raise LedgerError(f"not an SQLite URL: {url!r}; expected sqlite:///PATH")
    return Path(path)
