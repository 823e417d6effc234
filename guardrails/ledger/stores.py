"""Open the ledger, the review queue and the audit trail on one database, with their keys.

The decision service, the command line and the tests wire the three the same way; keys are
passed in (they never come from, nor go to, the database).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from guardrails.audit import AuditTrail, Pseudonymizer, resolve_key
from guardrails.ledger import ledger_for, open_database
from guardrails.review import ReviewQueue

if TYPE_CHECKING:
    from guardrails.ledger.sql_ledger import SqlLedger


@dataclass
class Stores:
    """The three guardrail stores sharing one connection."""

    ledger: SqlLedger
    audit: AuditTrail
    reviews: ReviewQueue
    pseudonymizer: Pseudonymizer | None

    def close(self) -> None:
        self.ledger.close()

    def __enter__(self) -> Stores:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_stores(
    url: str,
    *,
    audit_key: bytes | None,
    pseudonym_key: bytes | None,
    clock: Callable[[], float] = time.time,
) -> Stores:
    """Connect (schema migrated) and wire the ledger, audit trail and review queue."""
    ledger = ledger_for(open_database(url), clock)
    pseudo = Pseudonymizer(pseudonym_key) if pseudonym_key else None
    audit = AuditTrail(ledger.db, audit_key, pseudo)
    return Stores(ledger, audit, ReviewQueue(ledger, audit, clock), pseudo)


def open_stores_with_keys(
    url: str,
    *,
    audit_secret: str | None,
    pseudonym_secret: str | None,
    keys_dir: Path,
    create_keys: bool,
    clock: Callable[[], float] = time.time,
) -> Stores:
    """As ``open_stores``, each key from its secret when one is given, else from its key file in
    ``keys_dir`` (``audit.key``, ``pseudonym.key``), created (0600) only with ``create_keys``."""
    audit = resolve_key(audit_secret, keys_dir / "audit.key", create=create_keys)
    pseudo = resolve_key(pseudonym_secret, keys_dir / "pseudonym.key", create=create_keys)
    return open_stores(url, audit_key=audit, pseudonym_key=pseudo, clock=clock)
