"""Statements shared by every SQL ledger path: load reservations with their lines, move
balances and append journal entries. Each function works inside a caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence

from guardrails.ledger.db import Tx, in_list
from guardrails.ledger.model import (
    IdempotencyConflictError,
    Line,
    Reservation,
    Scope,
    Status,
    balance_deltas,
    transition,
)

COLS = (
    "id, idempotency_key, decision_id, payload_digest, status, created_at, expires_at, "
    "rejected_scope, reason"
)


def insert_key(tx: Tx, r: Reservation) -> bool:
    """Insert the reservation row as held; False when its idempotency key already exists."""
    cur = tx.execute(
        f"INSERT INTO reservations ({COLS}, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
        (r.id, r.idempotency_key, r.decision_id, r.payload_digest, "held", r.created_at,
         r.expires_at, None, None, r.created_at),
    )  # fmt: skip
    return cur.rowcount != 0


def with_lines(tx: Tx, rows: list[tuple]) -> list[Reservation]:
    """Reservations from ``COLS`` rows, each with its lines (one query for all)."""
    if not rows:
        return []
    ids = [row[0] for row in rows]
    lines: dict[str, list[Line]] = {i: [] for i in ids}
    for rid, scope, amount, limit in tx.all(
        "SELECT reservation_id, scope, amount, limit_amount FROM reservation_lines "
        f"WHERE reservation_id IN {in_list(ids)} ORDER BY reservation_id, scope",
        ids,
    ):
        lines[rid].append(Line(Scope.parse(scope), int(amount), limit))
    return [
        Reservation(rid, key, dec, dig, Status(st), tuple(lines[rid]), float(c), float(e), rej, why)
        for rid, key, dec, dig, st, c, e, rej, why in rows
    ]


def load(tx: Tx, where: str, params: Sequence, lock: str = "") -> Reservation | None:
    """One reservation by a WHERE clause; ``lock`` is the backend's row-lock suffix or ''."""
    found = with_lines(tx, tx.all(f"SELECT {COLS} FROM reservations WHERE {where}{lock}", params))
    return found[0] if found else None


def apply(
    tx: Tx, rs: Sequence[Reservation], op: str, now: float, reason: str | None, lock: str
) -> None:
    """Move every line of ``rs`` by the operation's deltas, journal it, set the new status.

    Scopes are locked in id order (after the reservation rows the caller locked)."""
    totals: dict[str, list[int]] = {}
    for r in rs:
        for ln in r.lines:
            reserved, committed = balance_deltas(op, ln.amount)
            t = totals.setdefault(ln.scope.id, [0, 0])
            t[0], t[1] = t[0] + reserved, t[1] + committed
    scopes = sorted(totals)
    if lock and scopes:
        tx.execute(
            f"SELECT scope FROM scope_balances WHERE scope IN {in_list(scopes)} "
            f"ORDER BY scope{lock}",
            scopes,
        )
    tx.executemany(
        "UPDATE scope_balances SET reserved = reserved + ?, committed = committed + ? "
        "WHERE scope = ?",
        [(totals[s][0], totals[s][1], s) for s in scopes],
    )
    entries(tx, rs, op, now, reason)
    tx.executemany(
        "UPDATE reservations SET status = ?, updated_at = ?, reason = COALESCE(?, reason) "
        "WHERE id = ?",
        [(str(transition(r.status, op)), now, reason, r.id) for r in rs],
    )


def entries(tx: Tx, rs: Sequence[Reservation], op: str, now: float, reason: str | None) -> None:
    """One journal entry per reservation line: the ledger's append-only history."""
    rows = []
    for r in rs:
        for ln in r.lines:
            reserved, committed = balance_deltas(op, ln.amount)
            rows.append((r.id, ln.scope.id, op, reserved, committed, now, reason))
    tx.executemany(
        "INSERT INTO ledger_entries (reservation_id, scope, operation, reserved_delta, "
        "committed_delta, at, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def effective(operation: str, r: Reservation, now: float) -> str | None:
    """The operation to apply: an overdue hold expires instead of committing; cancel picks."""
    if operation == "commit" and r.status is Status.HELD and r.expires_at <= now:
        return "expire"
    if operation == "cancel":
        return {Status.HELD: "release", Status.COMMITTED: "reverse"}.get(r.status)
    return operation


def check_replay(r: Reservation, payload_digest: str) -> Reservation:
    """A replay under another digest is a conflict, never a silent second reservation."""
    if r.replayed and r.payload_digest != payload_digest:
        raise IdempotencyConflictError(
            f"idempotency key {r.idempotency_key!r} was used for decision {r.decision_id} with "
            "a different payload; use a new key for a new request"
        )
    return r
