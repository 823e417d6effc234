"""The two implementations of Budget and Reviews: the ledger and review queue online, in-memory
books and a count offline (the policy simulation and the promotion gate's replay)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from features.errors import ConflictError
from guardrails.decision import Decision, Remaining
from guardrails.engine.builders import budget_scope_ids, remaining_from
from guardrails.engine.records import DecisionContext, History, Hold, ReviewRequest
from guardrails.ledger.model import (
    IdempotencyConflictError,
    Line,
    Reservation,
    Status,
    first_over_limit,
)
from guardrails.policy.compiled import CompiledPolicy

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

    def remaining(self, cp: CompiledPolicy, customer_key: str, period: str) -> Remaining:
        held = held_amounts(self.ledger.find(self.key))
        ids = budget_scope_ids(cp, customer_key, period)
        balances = self.ledger.balances_of(ids)
        used = {}
        for sid in ids:
            b = balances.get(sid)
            used[sid] = (b.reserved + b.committed if b else 0) - held.get(sid, 0)
        return remaining_from(cp, customer_key, period, used)

    def reserve(self, context: DecisionContext, lines: Sequence[Line], ttl_s: float) -> Hold:
        key = context.idempotency_key
        try:
            r = self.ledger.reserve(
                key, context.decision_id, context.input_digest, lines, ttl_s=ttl_s
            )
        except IdempotencyConflictError as exc:  # a concurrent request with the key, other body
            raise ConflictError(f"idempotency key {key!r}: {exc}") from exc
        return Hold(r.id, r.ok, r.rejected_scope)


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
    """In-memory stand-in for the ledger and the contact history, in time order: points used per
    ledger scope (the same scopes and limits the ledger keeps), points spent per period, and each
    customer's contacts and sends from the grants decided so far."""

    used: Counter = field(default_factory=Counter)  # scope id -> points
    spent: Counter = field(default_factory=Counter)  # period -> points
    contacts: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    sends: dict = field(default_factory=lambda: defaultdict(list))  # customer -> [(offer, at)]
    holds: int = 0

    def remaining(self, cp: CompiledPolicy, customer_key: str, period: str) -> Remaining:
        return remaining_from(cp, customer_key, period, self.used)

    def reserve(self, context: DecisionContext, lines: Sequence[Line], ttl_s: float) -> Hold:
        self.holds += 1
        hold_id = f"book-{self.holds}"
        over = first_over_limit(lines, self.used)
        if over is not None:
            return Hold(hold_id, False, over)
        for line in lines:
            self.used[line.scope.id] += line.amount
        return Hold(hold_id, True)

    def history(self, customer: str) -> History:
        return History(contacts=self.contacts.get(customer, {}), sends=self.sends.get(customer, ()))

    def record(self, cp: CompiledPolicy, customer: str, when: dt.datetime, d: Decision) -> None:
        """A granted decision: its points in the period's burn, a send and a contact."""
        if d.offer_id is None:
            raise ValueError("only a granted decision (with its offer) is recorded")
        self.spent[d.period] += d.points
        self.sends[customer].append((d.offer_id, when))
        self.contacts[customer][str(cp.policy.offer(d.offer_id).channel)].append(when)
