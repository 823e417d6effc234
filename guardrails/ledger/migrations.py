"""Apply the versioned schema in order, each migration once, safely from several processes."""

from __future__ import annotations

import time

from guardrails.ledger.db import Database, Tx
from guardrails.ledger.schema import MIGRATIONS, Migration

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at DOUBLE PRECISION NOT NULL)"""


def current_version(tx: Tx) -> int:
    row = tx.one("SELECT COALESCE(MAX(version), 0) FROM schema_version")
    return int(row[0]) if row else 0


def apply_migrations(db: Database, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Bring the schema to the latest version; returns that version.

    One transaction for all pending migrations: a crash leaves the previous version intact.
    Concurrent callers serialize (SQLite writer lock; PostgreSQL advisory lock per schema)."""

    def unit(tx: Tx) -> int:
        if db.dialect == "postgresql":
            tx.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema()))")
        tx.execute(_VERSION_TABLE)
        version = current_version(tx)
        for migration in sorted(migrations, key=lambda m: m.version):
            if migration.version <= version:
                continue
            for statement in migration.statements(db.dialect):
                tx.execute(statement)
            tx.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, time.time()),
            )
            version = migration.version
        return version

    return db.run(unit)
