"""The atomic budget ledger: one interface, an embedded SQLite backend and a PostgreSQL backend.

``open_ledger(url)`` picks the backend from the URL (``sqlite:///PATH`` or ``postgresql://...``)
and brings the schema up to date. The review queue and the audit trail share its database.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from guardrails.ledger.base import Ledger
from guardrails.ledger.connect import open_database
from guardrails.ledger.db import Database
from guardrails.ledger.model import (
    Balance,
    IdempotencyConflictError,
    InvalidTransitionError,
    LedgerError,
    LedgerUnavailableError,
    Line,
    Reservation,
    ReservationNotFoundError,
    Scope,
    ScopeKind,
    ScopeLimits,
    Status,
    decision_lines,
    period_key,
)
from guardrails.ledger.postgres_ledger import PostgresLedger
from guardrails.ledger.sql_ledger import SqlLedger

__all__ = [
    "Balance",
    "Database",
    "IdempotencyConflictError",
    "InvalidTransitionError",
    "Ledger",
    "LedgerError",
    "LedgerUnavailableError",
    "Line",
    "Reservation",
    "ReservationNotFoundError",
    "Scope",
    "ScopeKind",
    "ScopeLimits",
    "Status",
    "decision_lines",
    "ledger_for",
    "open_ledger",
    "period_key",
]


def ledger_for(db: Database, clock: Callable[[], float] = time.time) -> SqlLedger:
    """The ledger implementation that fits an open database."""
    if db.dialect == "postgresql":
        return PostgresLedger(db, clock)

    return SqlLedger(db, clock)


def open_ledger(url: str, clock: Callable[[], float] = time.time) -> Ledger:
    """Connect to the ledger database at ``url`` (schema migrated) and return its ledger."""
    return ledger_for(open_database(url), clock)
