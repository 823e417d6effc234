"""The append-only audit trail, stored beside the ledger (same database, either backend).

Appends serialize on the one-row ``audit_head`` table, so records form a single chain even when
several service workers write at once. The head row is a convenience, not a proof: verification
recomputes the chain from the records with the key, which the database never holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial

from guardrails.audit.chain import (
    GENESIS,
    Head,
    StoredRow,
    Verdict,
    canonical,
    chain_hash,
    verify_rows,
)
from guardrails.audit.keys import Pseudonymizer
from guardrails.audit.record import AuditRecord, body_of
from guardrails.ledger.db import Database, Tx

_ROW = "seq, record_id, decision_id, event, at, body, chain_hash"


class AuditTrail:
    """Append, read, verify the chain; ``key`` signs it, ``pseudonymizer`` hides customer ids."""

    def __init__(self, db: Database, key: bytes | None, pseudonymizer: Pseudonymizer | None):
        self.db = db
        self._key = key
        self._pseudo = pseudonymizer

    @property
    def has_key(self) -> bool:
        return self._key is not None

    def append(self, record: AuditRecord) -> StoredRow:
        """Add one record at the end of the chain (its own transaction)."""
        return self.db.run(lambda tx: self.append_in(tx, record))

    def append_in(self, tx: Tx, record: AuditRecord) -> StoredRow:
        """Add one record inside the caller's transaction (e.g. with a review's resolution)."""
        if self._key is None:
            raise ValueError("an audit trail without a key can verify nothing and sign nothing")
        customer = self._pseudonym(record.customer_id)
        row = tx.one(f"SELECT seq, chain_hash FROM audit_head WHERE id = 1{self.db.for_update}")
        seq, previous = (int(row[0]), row[1]) if row else (0, "")
        body = body_of(record, seq + 1, uuid.uuid4().hex, customer, datetime.now(UTC))
        text = canonical(body)
        stored = StoredRow(
            seq + 1,
            body["record_id"],
            body["decision_id"],
            body["event"],
            body["at"],
            text,
            chain_hash(self._key, previous, text),
        )
        tx.execute(
            f"INSERT INTO audit_records ({_ROW}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                stored.seq,
                stored.record_id,
                stored.decision_id,
                stored.event,
                stored.at,
                stored.body,
                stored.chain_hash,
            ),
        )
        tx.execute(
            "UPDATE audit_head SET seq = ?, chain_hash = ? WHERE id = 1",
            (stored.seq, stored.chain_hash),
        )
        return stored

    def _pseudonym(self, customer_id: str | None) -> str | None:
        if customer_id is None:
            return None
        if self._pseudo is None:
            raise ValueError("a customer id needs a pseudonymizer: raw ids are never stored")
        return self._pseudo.customer(customer_id)

    def rows(self, batch: int = 5000) -> Iterator[StoredRow]:
        """Every record in seq order, read in batches (the trail can be long)."""
        after = -1
        while True:
            chunk = self.db.run(partial(_rows_after, after=after, batch=batch), write=False)
            for r in chunk:
                yield StoredRow(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6])
            if len(chunk) < batch:
                return
            after = int(chunk[-1][0])

    def for_decision(self, decision_id: str) -> list[StoredRow]:
        rows = self.db.run(
            lambda tx: tx.all(
                f"SELECT {_ROW} FROM audit_records WHERE decision_id = ? ORDER BY seq",
                (decision_id,),
            ),
            write=False,
        )
        return [StoredRow(int(r[0]), *r[1:]) for r in rows]

    def head(self) -> Head:
        """The last record's seq and chain hash, read from the records themselves."""
        row = self.db.run(
            lambda tx: tx.one(
                "SELECT seq, chain_hash FROM audit_records ORDER BY seq DESC LIMIT 1"
            ),
            write=False,
        )
        return Head(int(row[0]), row[1]) if row else Head(0, GENESIS)

    def count(self) -> int:
        row = self.db.run(lambda tx: tx.one("SELECT COUNT(*) FROM audit_records"), write=False)
        return int(row[0]) if row else 0

    def verify(self, expected: Head | None = None) -> Verdict:
        """Recompute the chain with the key; also compares the stored head row when present."""
        if self._key is None:
            raise ValueError("verifying needs the audit key")
        verdict = verify_rows(self._key, self.rows(), expected)
        if not verdict.ok:
            return verdict
        stored = self.db.run(
            lambda tx: tx.one("SELECT seq, chain_hash FROM audit_head WHERE id = 1"), write=False
        )
        if stored and int(stored[0]) > verdict.head.seq:
            return Verdict(
                False,
                verdict.checked,
                verdict.head,
                verdict.head.seq + 1,
                f"the head row says {int(stored[0])} records were written but the trail ends at "
                f"{verdict.head.seq}: records were deleted from the end",
            )
        return verdict


def _rows_after(tx: Tx, after: int, batch: int) -> list[tuple]:
    """One batch of the trail: up to ``batch`` records after ``seq`` ``after``, in seq order."""
    return tx.all(
        f"SELECT {_ROW} FROM audit_records WHERE seq > ? ORDER BY seq LIMIT ?", (after, batch)
    )
