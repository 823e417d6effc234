"""The decision log: one recorded decision per idempotency key, found again by its id.

A decision is recorded by claiming its key (a row in ``decisions``) and appending its audit
record in the same transaction; the audit record's body is what the service answered. Retries
and lookups read it back from the audit trail. Either backend (SQLite, PostgreSQL).
"""

from __future__ import annotations

import json
from typing import Any

from guardrails.audit.record import AuditRecord
from guardrails.audit.trail import AuditTrail
from guardrails.ledger.db import Tx

# no conflict target: either unique index (decision id, key) turns a racer's insert into nothing
_CLAIM = (
    "INSERT INTO decisions (decision_id, idempotency_key, input_digest, created_at) "
    "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_FIRST = (
    "SELECT body FROM audit_records WHERE decision_id = ? AND event = 'decision' "
    "ORDER BY seq LIMIT 1"
)


class DecisionLog:
    """Claim a key and record its decision in one transaction; find a recorded decision."""

    def __init__(self, audit: AuditTrail) -> None:
        self.audit = audit

    def find(self, decision_id: str) -> dict[str, Any] | None:
        """The recorded decision's audit body (its ``details.response`` is the answer), or None."""
        for row in self.audit.for_decision(decision_id):
            if row.event == "decision":
                return json.loads(row.body)
        return None

    def record(self, record: AuditRecord, created_at: float) -> dict[str, Any] | None:
        """Record the decision once per idempotency key: the key's row and the audit record in
        one transaction. None when this call recorded it; otherwise the audit body of the
        decision recorded first for the key (a race on a new key), whose answer stands.

        The claim comes first, so a concurrent claimer waits for it (PostgreSQL's unique index,
        or SQLite's writer lock) and then reads the winner's record."""
        claim = (record.decision_id, record.idempotency_key, record.input_digest, created_at)

        def unit(tx: Tx) -> dict[str, Any] | None:
            if tx.execute(_CLAIM, claim).rowcount == 0:
                row = tx.one(_FIRST, (record.decision_id,))
                if row is None:  # claimed, but its record is not there: never expected
                    raise RuntimeError(f"decision {record.decision_id} has no audit record")
                return json.loads(row[0])
            self.audit.append_in(tx, record)
            return None

        return self.audit.db.run(unit)
