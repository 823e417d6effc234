"""The two implementations of Budget and Reviews: the ledger and review queue online, in-memory
books and a count offline (the policy simulation and the promotion gate's replay)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from features.errors import ConflictError
from guardrails.decision import Decision
from guardrails.engine.records import DecisionContext, Hold, ReviewRequest
from guardrails.ledger.model import (
    IdempotencyConflictError,
    Line,
    Reservation,
    Status,
    first_over_limit,
    window_ids,
)

if TYPE_CHECKING:  # types only: the offline path never opens a ledger or a queue
    from guardrails.ledger.base import Ledger
    from guardrails.review import ReviewQueue


def held_amounts(own: Reservation | None) -> dict[str, int]:
    """Per scope, what the key's own still-held reservation takes (nothing when there is none)."""
    if own is None or own.status is not Status.HELD:
        return {}
    return {ln.scope.id: ln.amount for ln in own.lines}


class LedgerBudget:
    """The ledger as a Budget, for one request's idempotency key.

    A hold the key took in an earlier attempt that failed before its answer was recorded (a
    crash, an outage) counts as free budget, so deciding again comes out as the first attempt
    did and the ledger hands back the same hold instead of the hold blocking its own offer."""

    def __init__(self, ledger: Ledger, idempotency_key: str) -> None:
        self.ledger = ledger
        self.key = idempotency_key

    def used(self, scope_ids: Sequence[str]) -> dict[str, int]:
        held = held_amounts(self.ledger.find(self.key))
        balances = self.ledger.balances_of(scope_ids)
        used = {}
        for sid, b in balances.items():
            used[sid] = b.reserved + b.committed - held.get(sid, 0)
        return used

    def reserve(self, context: DecisionContext, lines: Sequence[Line], ttl_s: float) -> Hold:
        key = context.idempotency_key
        try:
            r = self.ledger.reserve(
                key, context.decision_id, context.input_digest, lines, ttl_s=ttl_s
            )
        except IdempotencyConflictError as exc:  # a concurrent request with the key, other body
            raise ConflictError(f"idempotency key {key!r}: {exc}") from exc
        return Hold(r.id, r.ok, r.rejected_scope)


class BackfillBudget:
    """A backfill decision: the ledger's books are read as for a live decision and the grant
    checked against them, but nothing is reserved (status ``simulated``)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def used(self, scope_ids: Sequence[str]) -> dict[str, int]:
        balances = self.ledger.balances_of(scope_ids)
        return {sid: b.reserved + b.committed for sid, b in balances.items()}

    def reserve(self, context: DecisionContext, lines: Sequence[Line], ttl_s: float) -> Hold:
        ids = [ln.scope.id for ln in lines] + window_ids(lines)
        over = first_over_limit(lines, self.used(ids))
        return Hold("", over is None, over, simulated=True)


class QueueReviews:
    """The review queue as Reviews: the decision waits for a person, its hold extended."""

    def __init__(self, queue: ReviewQueue) -> None:
        self.queue = queue

    def submit(self, request: ReviewRequest) -> str | None:
        review = self.queue.submit(
            request.decision_id,
            request.hold_id,
            ttl_s=request.ttl_s,
            reason=request.reason,
            summary=request.summary,
        )
        return review.id


@dataclass
class CountedReviews:
    """Offline: decisions routed to review are counted; nothing is submitted."""

    count: int = 0

    def submit(self, request: ReviewRequest) -> str | None:
        self.count += 1
        return None


@dataclass
class Books:
    """In-memory stand-in for the ledger, in time order: what each ledger scope has taken
    (points, or counts for caps and contact windows: the same scopes and limits the ledger
    keeps) and points spent per period. Nothing is ever released: offline, every grant stands."""

    taken: Counter = field(default_factory=Counter)  # scope id -> points or count
    spent: Counter = field(default_factory=Counter)  # period -> points
    holds: int = 0

    def used(self, scope_ids: Sequence[str]) -> dict[str, int]:
        return {sid: self.taken[sid] for sid in scope_ids if sid in self.taken}

    def reserve(self, context: DecisionContext, lines: Sequence[Line], ttl_s: float) -> Hold:
        self.holds += 1
        hold_id = f"book-{self.holds}"
        over = first_over_limit(lines, self.taken)
        if over is not None:
            return Hold(hold_id, False, over)
        for line in lines:
            self.taken[line.scope.id] += line.amount
        return Hold(hold_id, True)

    def record(self, d: Decision) -> None:
        """A granted decision's points in its period's burn."""
        if d.offer_id is None:
            raise ValueError("only a granted decision (with its offer) is recorded")
        self.spent[d.period] += d.points
