"""The human review queue: a decision routed to review holds its budget until someone decides.

A review keeps its reservation held for the review's own TTL. Approving commits the reservation,
rejecting releases it, and a review nobody resolves in time expires and releases the budget.
Each resolution changes the review, the ledger and the audit trail in one transaction, so a
crash can never leave an approved review with a released budget (or the reverse).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from features.errors import ConflictError, LoyaltyError, NotFoundError
from guardrails.audit import AuditRecord, AuditTrail
from guardrails.ledger.db import Tx
from guardrails.ledger.model import InvalidTransitionError
from guardrails.ledger.sql_ledger import SqlLedger

PENDING, APPROVED, REJECTED, EXPIRED = "pending", "approved", "rejected", "expired"
STATUSES = (PENDING, APPROVED, REJECTED, EXPIRED)
_COLS = (
    "id, decision_id, reservation_id, status, reason, summary, created_at, expires_at, "
    "resolved_at, resolved_by, note"
)


class ReviewError(LoyaltyError):
    """A review cannot be resolved as asked (unknown id, already resolved, expired)."""


class ReviewNotFoundError(ReviewError, NotFoundError):
    """No review with that id."""


class ReviewSettledError(ReviewError, ConflictError):
    """The review was resolved another way already (approved, rejected or expired), e.g. by a
    reviewer racing an orchestrator's cancel."""


class ReviewExpiredError(ReviewError, ConflictError):
    """The review's time ran out; its budget went back and nothing was approved."""


@dataclass(frozen=True)
class Review:
    id: str
    decision_id: str
    reservation_id: str | None
    status: str
    reason: str
    summary: Mapping[str, Any]
    created_at: float
    expires_at: float
    resolved_at: float | None = None
    resolved_by: str | None = None
    note: str | None = None


def _review(row: tuple) -> Review:
    """A row of ``_COLS`` (the summary stored as JSON)."""
    id_, decision_id, reservation_id, status, reason, summary, *times_and_resolution = row
    created_at, expires_at, resolved_at, resolved_by, note = times_and_resolution
    return Review(
        id_,
        decision_id,
        reservation_id,
        status,
        reason,
        json.loads(summary),
        created_at,
        expires_at,
        resolved_at,
        resolved_by,
        note,
    )


class ReviewQueue:
    """Submit, list and resolve reviews; the service and ``loyalty review`` call the same API."""

    def __init__(
        self,
        ledger: SqlLedger,
        audit: AuditTrail | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ledger, self.db, self.audit, self.clock = ledger, ledger.db, audit, clock

    def submit(
        self,
        decision_id: str,
        reservation_id: str | None,
        *,
        ttl_s: float,
        reason: str,
        summary: Mapping[str, Any],
        now: float | None = None,
    ) -> Review:
        """Queue a decision (a retry returns the first review); its hold now lasts ``ttl_s``."""
        if "customer_id" in summary:
            raise ValueError("a review summary carries the customer's pseudonym, never the raw id")
        t = self.clock() if now is None else now
        review = Review(
            uuid.uuid4().hex,
            decision_id,
            reservation_id,
            PENDING,
            reason,
            dict(summary),
            t,
            t + ttl_s,
        )

        def unit(tx: Tx) -> Review:
            existing = self._load(tx, "decision_id = ?", decision_id)
            if existing is not None:
                return existing
            if reservation_id is not None:
                self.ledger.extend_in(tx, reservation_id, review.expires_at, t)
            _insert(tx, review)
            return review

        return self.db.run(unit)

    def _load(self, tx: Tx, where: str, value: str, lock: bool = False) -> Review | None:
        suffix = self.db.for_update if lock else ""
        row = tx.one(f"SELECT {_COLS} FROM reviews WHERE {where}{suffix}", (value,))
        return _review(row) if row else None

    def get(self, review_id: str) -> Review:
        found = self.db.run(lambda tx: self._load(tx, "id = ?", review_id), write=False)
        if found is None:
            raise ReviewNotFoundError(
                f"no review {review_id!r}; `loyalty review list` shows the queue"
            )
        return found

    def list(self, status: str | None = PENDING, limit: int = 200) -> list[Review]:
        """Reviews, oldest first; ``status=None`` lists every state."""
        where, params = ("status = ?", [status]) if status else ("1 = 1", [])
        rows = self.db.run(
            lambda tx: tx.all(
                f"SELECT {_COLS} FROM reviews WHERE {where} ORDER BY created_at, id LIMIT ?",
                [*params, limit],
            ),
            write=False,
        )
        return [_review(r) for r in rows]

    def approve(
        self, review_id: str, reviewer: str, note: str | None = None, now: float | None = None
    ) -> Review:
        """Commit the held budget and record who approved; ReviewExpiredError if too late."""
        return self._resolve(review_id, APPROVED, "commit", reviewer, note, now)

    def reject(
        self, review_id: str, reviewer: str, note: str | None = None, now: float | None = None
    ) -> Review:
        """Release the held budget and record who rejected."""
        return self._resolve(review_id, REJECTED, "release", reviewer, note, now)

    def _resolve(
        self,
        review_id: str,
        status: str,
        op: str,
        reviewer: str,
        note: str | None,
        now: float | None,
    ) -> Review:
        t = self.clock() if now is None else now

        def unit(tx: Tx) -> Review:
            review = self._load(tx, "id = ?", review_id, lock=True)
            if review is None:
                raise ReviewNotFoundError(
                    f"no review {review_id!r}; `loyalty review list` shows the queue"
                )
            if review.status != PENDING:
                if review.status == status:
                    return review
                raise ReviewSettledError(f"review {review_id} is already {review.status}")
            outcome = status if review.expires_at > t else EXPIRED
            if outcome != EXPIRED and review.reservation_id is not None:
                try:
                    _, done = self.ledger.settle_in(
                        tx, review.reservation_id, op, t, f"review {status}"
                    )
                except InvalidTransitionError:
                    done = "expire"  # the hold already ran out (swept by the ledger)
                outcome = EXPIRED if done == "expire" else status
            return self._close(tx, review, outcome, reviewer, note, t)

        result = self.db.run(unit)
        if result.status == EXPIRED and status != EXPIRED:
            raise ReviewExpiredError(
                f"review {review_id} expired; its budget was released and nothing was {status}"
            )
        return result

    def _close(
        self,
        tx: Tx,
        review: Review,
        outcome: str,
        by: str,
        note: str | None,
        t: float,
        settle: bool = True,
    ) -> Review:
        if settle and outcome == EXPIRED and review.reservation_id is not None:
            self.ledger.settle_in(tx, review.reservation_id, "expire", t, "review expired")
        tx.execute(
            "UPDATE reviews SET status = ?, resolved_at = ?, resolved_by = ?, note = ? "
            "WHERE id = ?",
            (outcome, t, by, note, review.id),
        )
        closed = replace(review, status=outcome, resolved_at=t, resolved_by=by, note=note)
        if self.audit is not None:
            self.audit.append_in(tx, _audit_record(closed))
        return closed

    def expire(self, now: float | None = None, batch: int = 200) -> int:
        """Expire overdue reviews and release their budget; returns how many."""
        t, total = (self.clock() if now is None else now), 0
        skip = " SKIP LOCKED" if self.db.for_update else ""

        def unit(tx: Tx) -> int:
            rows = tx.all(
                f"SELECT {_COLS} FROM reviews WHERE status = 'pending' AND expires_at <= ? "
                f"ORDER BY id LIMIT ?{self.db.for_update}{skip}",
                (t, batch),
            )
            reviews = [_review(row) for row in rows]
            held = [r.reservation_id for r in reviews if r.reservation_id is not None]
            self.ledger.expire_in(tx, held, t, "review expired")  # all scopes in one lock order
            for review in reviews:
                self._close(tx, review, EXPIRED, "ttl", None, t, settle=False)
            return len(rows)

        while (n := self.db.run(unit)) > 0:
            total += n
            if n < batch:
                break
        return total


def _insert(tx: Tx, r: Review) -> None:
    tx.execute(
        f"INSERT INTO reviews ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (r.id, r.decision_id, r.reservation_id, r.status, r.reason,
         json.dumps(r.summary, sort_keys=True), r.created_at, r.expires_at, None, None, None),
    )  # fmt: skip


def _audit_record(review: Review) -> AuditRecord:
    s = review.summary
    return AuditRecord(
        decision_id=review.decision_id,
        outcome=review.status,
        event=f"review.{review.status}",
        idempotency_key=s.get("idempotency_key"),
        caller=review.resolved_by,
        contract_id=s.get("contract_id"),
        policy_version=s.get("policy_version"),
        reservation_ids=[review.reservation_id] if review.reservation_id else [],
        details={
            "review_id": review.id,
            "reason": review.reason,
            "note": review.note,
            "customer": s.get("customer"),
        },
    )
