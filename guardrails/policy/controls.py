"""Pause and resume a contract's spending: what finance asks for when a budget is in doubt.

A pause is a row in ``contract_controls`` (append-only) and an audit record, written in one
transaction; the latest row of a contract rules. While a contract is paused every decision under
it is ``no_offer`` with the reason ``paused`` (who, when, why) and nothing is reserved; decisions
already granted stand. The service reads a contract's state with one indexed query per decision,
so a pause on one host holds on every host sharing the ledger database from its next decision.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from features.errors import ConflictError
from guardrails.audit.record import AuditRecord
from guardrails.audit.trail import AuditTrail
from guardrails.ledger.db import Database, Tx

_LATEST = (
    "SELECT action, at, by_whom, reason FROM contract_controls WHERE contract_id = ? "
    "ORDER BY id DESC LIMIT 1"
)


@dataclass(frozen=True)
class Pause:
    """A contract's spending is paused: by whom, since when, why."""

    contract_id: str
    at: dt.datetime
    by: str
    reason: str | None


class ContractControls:
    """Pause, resume and read the state of contracts in the ledger database."""

    def __init__(
        self, db: Database, audit: AuditTrail | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.db, self.audit, self.clock = db, audit, clock

    def paused(self, contract_id: str) -> Pause | None:
        """The contract's pause, or None when it spends."""
        rows = self.db.query(_LATEST, (contract_id,))
        if not rows or rows[0][0] != "pause":
            return None
        _, at, by, reason = rows[0]
        return Pause(contract_id, dt.datetime.fromtimestamp(at, dt.UTC), by, reason)

    def pause(self, contract_id: str, by: str, reason: str | None = None) -> Pause:
        """Pause the contract's spending (ConflictError when it is paused already)."""
        self._write(contract_id, "pause", by, reason)
        found = self.paused(contract_id)
        if found is None:  # written just now in this database: never expected
            raise RuntimeError(f"contract {contract_id}: the pause was not recorded")
        return found

    def resume(self, contract_id: str, by: str, reason: str | None = None) -> None:
        """Resume the contract's spending (ConflictError when it is not paused)."""
        self._write(contract_id, "resume", by, reason)

    def _write(self, contract_id: str, action: str, by: str, reason: str | None) -> None:
        now = self.clock()

        def unit(tx: Tx) -> None:
            row = tx.one(_LATEST, (contract_id,))
            current = row[0] if row else "resume"
            if current == action:
                state = "paused" if action == "pause" else "not paused"
                raise ConflictError(f"contract {contract_id} is {state} already")
            tx.execute(
                "INSERT INTO contract_controls (contract_id, action, at, by_whom, reason) "
                "VALUES (?, ?, ?, ?, ?)",
                (contract_id, action, now, by, reason),
            )
            if self.audit is not None:
                self.audit.append_in(tx, _record(contract_id, action, by, reason, now))

        self.db.run(unit)


def _record(contract_id: str, action: str, by: str, reason: str | None, at: float):
    return AuditRecord(
        decision_id=f"control-{uuid.uuid4().hex[:24]}",
        outcome="paused" if action == "pause" else "resumed",
        event=f"contract_{action}",
        at=dt.datetime.fromtimestamp(at, dt.UTC),
        caller=by,
        contract_id=contract_id,
        details={"reason": reason} if reason else {},
    )
