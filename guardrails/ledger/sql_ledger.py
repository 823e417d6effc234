"""The ledger over SQL, shared by both backends; PostgreSQL overrides ``reserve`` with a
server-side function so a reservation is one round trip.

Lock order (PostgreSQL): a review row, then the reservation row, then its scopes sorted by id;
every path follows it, so concurrent reservations, commits and expiries cannot deadlock.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace

from guardrails.ledger import reconcile as reconciliation
from guardrails.ledger import sql_ops as ops
from guardrails.ledger.base import Ledger
from guardrails.ledger.db import Database, Tx, in_list
from guardrails.ledger.model import (
    Balance,
    InvalidTransitionError,
    Line,
    Reservation,
    ReservationNotFoundError,
    ScopeKind,
    Status,
    first_over_limit,
    normalize_lines,
    transition,
    window_ids,
)


def new_id() -> str:
    return uuid.uuid4().hex


class SqlLedger(Ledger):
    """Reservations, commits and reversals as plain SQL in one transaction each."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def now(self, now: float | None = None) -> float:
        return self.clock() if now is None else float(now)

    def held(
        self,
        idempotency_key: str,
        decision_id: str,
        payload_digest: str,
        lines: Sequence[Line],
        ttl_s: float,
        now: float | None = None,
    ) -> Reservation:
        """The reservation a request asks for, before any database decides its fate."""
        t = self.now(now)
        return Reservation(
            new_id(),
            idempotency_key,
            decision_id,
            payload_digest,
            Status.HELD,
            normalize_lines(lines),
            t,
            t + ttl_s,
        )

    def reserve(
        self,
        idempotency_key: str,
        decision_id: str,
        payload_digest: str,
        lines: Sequence[Line],
        ttl_s: float,
        now: float | None = None,
    ) -> Reservation:
        fresh = self.held(idempotency_key, decision_id, payload_digest, lines, ttl_s, now)
        return ops.check_replay(self.db.run(lambda tx: self.reserve_in(tx, fresh)), payload_digest)

    def reserve_in(self, tx: Tx, r: Reservation) -> Reservation:
        """The reservation inside the caller's transaction (the key's row first)."""
        if not ops.insert_key(tx, r):
            existing = ops.load(tx, "idempotency_key = ?", (r.idempotency_key,))
            if existing is None:  # the insert just found the key's row in this transaction
                raise RuntimeError(f"idempotency key {r.idempotency_key!r} taken but not found")
            return replace(existing, replayed=True)
        tx.executemany(
            "INSERT INTO reservation_lines (reservation_id, scope, amount, limit_amount) "
            "VALUES (?, ?, ?, ?)",
            [(r.id, ln.scope.id, ln.amount, ln.limit) for ln in r.lines],
        )
        tx.executemany(
            "INSERT INTO scope_balances (scope, kind, period, limit_amount) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (scope) DO NOTHING",
            [(ln.scope.id, ln.scope.kind.value, ln.scope.period, ln.limit) for ln in r.lines],
        )
        ids = [ln.scope.id for ln in r.lines]
        used = dict(
            tx.all(
                "SELECT scope, reserved + committed FROM scope_balances "
                f"WHERE scope IN {in_list(ids)} ORDER BY scope{self.db.for_update}",
                ids,
            )
        )
        windows = [w for w in window_ids(r.lines) if w not in used]
        if windows:  # read under the locks just taken (the customer's lifetime row among them)
            used.update(
                tx.all(
                    "SELECT scope, reserved + committed FROM scope_balances "
                    f"WHERE scope IN {in_list(windows)}",
                    windows,
                )
            )
        rejected = first_over_limit(r.lines, used)
        if rejected is not None:
            tx.execute(
                "UPDATE reservations SET status = 'rejected', rejected_scope = ? WHERE id = ?",
                (rejected, r.id),
            )
            tx.executemany(
                "UPDATE scope_balances SET limit_amount = ? WHERE scope = ?",
                [(ln.limit, ln.scope.id) for ln in r.lines],
            )
            return replace(r, status=Status.REJECTED, rejected_scope=rejected)
        tx.executemany(
            "UPDATE scope_balances SET reserved = reserved + ?, limit_amount = ? WHERE scope = ?",
            [(ln.amount, ln.limit, ln.scope.id) for ln in r.lines],
        )
        ops.entries(tx, [r], "reserve", r.created_at, None)
        return r

    def commit(self, reservation_id: str, now: float | None = None) -> Reservation:
        return self._settle(reservation_id, "commit", self.now(now), None)

    def release(
        self, reservation_id: str, reason: str | None = None, now: float | None = None
    ) -> Reservation:
        return self._settle(reservation_id, "release", self.now(now), reason)

    def reverse(self, reservation_id: str, reason: str, now: float | None = None) -> Reservation:
        return self._settle(reservation_id, "reverse", self.now(now), reason)

    def cancel(self, reservation_id: str, reason: str, now: float | None = None) -> Reservation:
        return self._settle(reservation_id, "cancel", self.now(now), reason)

    def _settle(self, rid: str, operation: str, now: float, reason: str | None) -> Reservation:
        result, done = self.db.run(lambda tx: self.settle_in(tx, rid, operation, now, reason))
        if operation == "commit" and done == "expire":
            raise InvalidTransitionError(
                f"reservation {rid} expired before its commit; its budget was released"
            )
        return result

    def settle_in(
        self, tx: Tx, rid: str, operation: str, now: float, reason: str | None
    ) -> tuple[Reservation, str | None]:
        """Apply commit/release/expire/reverse/cancel inside the caller's transaction.

        Returns the reservation after it and the operation actually applied (None: no-op);
        an overdue hold asked to commit is expired instead."""
        r = ops.load(tx, "id = ?", (rid,), self.db.for_update)
        if r is None:
            raise ReservationNotFoundError(f"no reservation {rid!r}")
        op = ops.effective(operation, r, now)
        new = transition(r.status, op) if op is not None else None
        if op is None or new is None:
            return r, None
        ops.apply(tx, [r], op, now, reason, self.db.for_update)
        return replace(r, status=new, reason=reason or r.reason), op

    def extend(
        self, reservation_id: str, expires_at: float, now: float | None = None
    ) -> Reservation:
        t = self.now(now)
        return self.db.run(lambda tx: self.extend_in(tx, reservation_id, expires_at, t))

    def extend_in(self, tx: Tx, reservation_id: str, expires_at: float, now: float) -> Reservation:
        """Move a live hold's expiry inside the caller's transaction."""
        r = ops.load(tx, "id = ?", (reservation_id,), self.db.for_update)
        if r is None:
            raise ReservationNotFoundError(f"no reservation {reservation_id!r}")
        if r.status is not Status.HELD or r.expires_at <= now:
            late = " and overdue" if r.status is Status.HELD else ""
            raise InvalidTransitionError(
                f"cannot extend reservation {reservation_id}: it is {r.status}{late}"
            )
        tx.execute(
            "UPDATE reservations SET expires_at = ?, updated_at = ? WHERE id = ?",
            (expires_at, now, reservation_id),
        )
        return replace(r, expires_at=expires_at)

    def expire_in(self, tx: Tx, reservation_ids: Sequence[str], now: float, reason: str) -> int:
        """Expire the given holds (others untouched) in the caller's transaction: reservation
        rows locked in id order, then all their scopes in one sorted pass."""
        ids = sorted(set(reservation_ids))
        if not ids:
            return 0
        rows = tx.all(
            f"SELECT {ops.COLS} FROM reservations WHERE id IN {in_list(ids)} "
            f"ORDER BY id{self.db.for_update}",
            ids,
        )
        held = [r for r in ops.with_lines(tx, rows) if r.status is Status.HELD]
        if held:
            ops.apply(tx, held, "expire", now, reason, self.db.for_update)
        return len(held)

    def expire(self, now: float | None = None, batch: int = 500) -> int:
        t, total = self.now(now), 0
        skip = " SKIP LOCKED" if self.db.for_update else ""

        def unit(tx: Tx) -> int:
            rows = tx.all(
                f"SELECT {ops.COLS} FROM reservations WHERE status = 'held' AND expires_at <= ? "
                f"ORDER BY id LIMIT ?{self.db.for_update}{skip}",
                (t, batch),
            )
            rs = ops.with_lines(tx, rows)
            if rs:
                ops.apply(tx, rs, "expire", t, "ttl passed", self.db.for_update)
            return len(rs)

        while (n := self.db.run(unit)) > 0:
            total += n
            if n < batch:
                break
        return total

    def get(self, reservation_id: str) -> Reservation:
        r = self.db.run(lambda tx: ops.load(tx, "id = ?", (reservation_id,)), write=False)
        if r is None:
            raise ReservationNotFoundError(f"no reservation {reservation_id!r}")
        return r

    def find(self, idempotency_key: str) -> Reservation | None:
        return self.db.run(
            lambda tx: ops.load(tx, "idempotency_key = ?", (idempotency_key,)), write=False
        )

    def balances(
        self, kind: ScopeKind | None = None, period: str | None = None, prefix: str | None = None
    ) -> list[Balance]:
        where: list[str] = ["1 = 1"]
        params: list[str | int] = []
        for clause, value in (("kind = ?", kind), ("period = ?", period)):
            if value is not None:
                where.append(clause)
                params.append(str(value))
        if prefix:
            where.append("substr(scope, 1, ?) = ?")
            params += [len(prefix), prefix]
        rows = self.db.run(
            lambda tx: tx.all(
                "SELECT scope, kind, period, limit_amount, reserved, committed FROM scope_balances "
                f"WHERE {' AND '.join(where)} ORDER BY scope",
                params,
            ),
            write=False,
        )
        return [Balance(s, ScopeKind(k), p, lim, int(r), int(c)) for s, k, p, lim, r, c in rows]

    def balances_of(self, scopes: Sequence[str]) -> dict[str, Balance]:
        ids = list(dict.fromkeys(scopes))
        if not ids:
            return {}
        rows = self.db.run(
            lambda tx: tx.all(
                "SELECT scope, kind, period, limit_amount, reserved, committed FROM scope_balances "
                f"WHERE scope IN {in_list(ids)}",
                ids,
            ),
            write=False,
        )
        return {s: Balance(s, ScopeKind(k), p, lim, int(r), int(c)) for s, k, p, lim, r, c in rows}

    def reconcile(self) -> list[str]:
        return reconciliation.reconcile(self.db)
