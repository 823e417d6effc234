"""Budget burn per contract, read back from the ledger's own rows.

Reservations and points per contract x period scope and reservation status, straight from the
reservations and their lines (not from the balances), so a summary built on it (the demo's budget
table) shows what the ledger holds, never what the steps before it said they did.
"""

from __future__ import annotations

from dataclasses import dataclass

from guardrails.ledger.db import Database, Tx

_BY_CONTRACT_SCOPE = (
    "SELECT l.scope, r.status, COUNT(*), SUM(l.amount) FROM reservations r "
    "JOIN reservation_lines l ON l.reservation_id = r.id "
    "WHERE l.scope LIKE 'contract:%:%' GROUP BY l.scope, r.status"
)


@dataclass(frozen=True)
class ScopeBurn:
    """The reservations in one status on one contract x period scope, and their points."""

    scope: str
    status: str
    reservations: int
    points: int


def contract_burn(db: Database) -> list[ScopeBurn]:
    """Every contract x period scope's reservations and points by status (one read)."""

    def unit(tx: Tx) -> list[ScopeBurn]:
        return [
            ScopeBurn(scope, status, int(n), int(points or 0))
            for scope, status, n, points in tx.all(_BY_CONTRACT_SCOPE)
        ]

    return db.run(unit, write=False)
