"""Recompute every balance from the journal and from live reservations, in one snapshot.

Used by ``loyalty ledger check``, the benchmark and the reliability suite: an empty answer means
the stored balances equal the sum of their entries, equal the lines of held and committed
reservations, and no scope is over its limit or negative.
"""

from __future__ import annotations

from guardrails.ledger.db import Database, Tx

_FROM_ENTRIES = """
SELECT scope, SUM(reserved_delta), SUM(committed_delta) FROM ledger_entries GROUP BY scope
"""
_FROM_RESERVATIONS = """
SELECT l.scope,
       SUM(CASE WHEN r.status = 'held' THEN l.amount ELSE 0 END),
       SUM(CASE WHEN r.status = 'committed' THEN l.amount ELSE 0 END)
FROM reservation_lines l JOIN reservations r ON r.id = l.reservation_id
GROUP BY l.scope
"""
_BALANCES = "SELECT scope, limit_amount, reserved, committed FROM scope_balances"


def snapshot(tx: Tx, dialect: str) -> None:
    """Make the rest of the transaction read one consistent snapshot."""
    if dialect == "postgresql":
        tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")


def reconcile(db: Database) -> list[str]:
    def unit(tx: Tx) -> list[str]:
        snapshot(tx, db.dialect)
        balances = {s: (lim, int(r), int(c)) for s, lim, r, c in tx.all(_BALANCES)}
        entries = {s: (int(r), int(c)) for s, r, c in tx.all(_FROM_ENTRIES)}
        live = {s: (int(r), int(c)) for s, r, c in tx.all(_FROM_RESERVATIONS)}
        return problems(balances, entries, live)

    return db.run(unit, write=False)


def problems(
    balances: dict[str, tuple[int | None, int, int]],
    entries: dict[str, tuple[int, int]],
    live: dict[str, tuple[int, int]],
) -> list[str]:
    """Pure comparison of the three views of every scope."""
    found = []
    for scope in sorted(set(balances) | set(entries) | set(live)):
        limit, reserved, committed = balances.get(scope, (None, 0, 0))
        if entries.get(scope, (0, 0)) != (reserved, committed):
            found.append(
                f"{scope}: balance (reserved {reserved}, committed {committed}) != entries "
                f"{entries.get(scope, (0, 0))}"
            )
        if live.get(scope, (0, 0)) != (reserved, committed):
            found.append(
                f"{scope}: balance (reserved {reserved}, committed {committed}) != held/committed "
                f"reservations {live.get(scope, (0, 0))}"
            )
        if reserved < 0 or committed < 0:
            found.append(f"{scope}: negative balance ({reserved}, {committed})")
        if limit is not None and reserved + committed > limit:
            found.append(f"{scope}: {reserved} + {committed} over its limit {limit}")
    return found
