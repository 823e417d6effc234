"""PostgreSQL ledger: a reservation is one call of the ``ledger_reserve`` server function."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from guardrails.ledger.model import Line, Reservation, Status
from guardrails.ledger.postgres_db import PostgresDatabase
from guardrails.ledger.sql_ledger import SqlLedger
from guardrails.ledger.sql_ops import check_replay

RESERVE_SQL = (
    "SELECT r_id, r_status, r_digest, r_rejected, r_replayed FROM ledger_reserve("
    "%s, %s, %s, %s, %s, %s, %s::text[], %s::text[], %s::text[], %s::bigint[], %s::bigint[], "
    "%s::text[], %s::text[])"
)


def reserve_params(r: Reservation) -> tuple:
    """The function's arguments for one reservation (lines already sorted by scope id)."""
    return (
        r.id,
        r.idempotency_key,
        r.decision_id,
        r.payload_digest,
        r.created_at,
        r.expires_at,
        [ln.scope.id for ln in r.lines],
        [ln.scope.kind.value for ln in r.lines],
        [ln.scope.period for ln in r.lines],
        [ln.amount for ln in r.lines],
        [ln.limit for ln in r.lines],
        [ln.scope.id for ln in r.lines for _ in ln.window],
        [w for ln in r.lines for w in ln.window],
    )


class PostgresLedger(SqlLedger):
    """The SQL ledger with a single-round-trip reservation."""

    db: PostgresDatabase

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
        ((rid, status, digest, rejected, replayed),) = self.db.call(
            RESERVE_SQL, reserve_params(fresh)
        )
        if replayed:
            previous = replace(self.get(rid), replayed=True, payload_digest=digest)
            return check_replay(previous, payload_digest)
        return replace(fresh, status=Status(status), rejected_scope=rejected)
