"""Opening the ledger database: the backend that fits the URL, its schema brought up to date.

Apart from ``db`` (the seam every backend implements) so that the backends and the migrations,
which build on ``db``, are imported here without a cycle.
"""

from __future__ import annotations

import sqlite3

from guardrails.ledger.db import Database, sqlite_path
from guardrails.ledger.migrations import apply_migrations
from guardrails.ledger.model import LedgerError
from guardrails.ledger.postgres_db import PostgresDatabase
from guardrails.ledger.sqlite_db import SqliteDatabase


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Connect to ``sqlite:///PATH`` or ``postgresql://...`` and bring the schema up to date."""
    if url.startswith("sqlite:"):
        db: Database = SqliteDatabase(sqlite_path(url))
    elif url.startswith(("postgresql://", "postgres://")):
        db = PostgresDatabase(url)
    else:
        raise LedgerError(
            f"unsupported ledger URL {url!r}: use sqlite:///PATH or postgresql://USER@HOST/DB"
        )
    if migrate:
        try:
            apply_migrations(db)
        except LedgerError:
            db.close()
            raise
        except Exception as exc:
            db.close()
            if not _driver_error(exc):
                raise
            raise LedgerError(f"cannot prepare the {db.dialect} ledger schema: {exc}") from exc
    return db


def _driver_error(exc: Exception) -> bool:
    """A database driver's own error (permissions, a foreign schema), not a bug of ours."""
    return isinstance(exc, sqlite3.Error) or type(exc).__module__.startswith("psycopg")
