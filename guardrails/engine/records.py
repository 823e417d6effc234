"""The typed records a decision's guardrails take and give, and the two small protocols the
caller implements: where the budget comes from (the ledger online, in-memory books offline) and
where a decision routed to review goes (the review queue online, a count offline).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from guardrails.decision import Decision, Request, Scores
from guardrails.ledger.model import Line
from guardrails.policy.compiled import CompiledPolicy
from guardrails.policy.controls import Pause

Status = Literal["approved", "pending_review", "rejected", "no_offer", "simulated"]


@dataclass(frozen=True, slots=True)
class History:
    """The customer's history as the caller knows it: contacts per channel, declines, the
    offers sent as (offer_id, time), and where each consent feature came from (a consent event
    and its time, the request, or the feature snapshot), which the consent reasons cite."""

    contacts: Mapping[str, Sequence[dt.datetime]] = field(default_factory=dict)
    declines: Sequence[dt.datetime] = ()
    sends: Sequence[tuple[str, dt.datetime]] = ()
    consent_sources: Mapping[str, str] = field(default_factory=dict)  # feature -> where from


@dataclass(frozen=True, slots=True)
class DecisionContext:
    """Everything one decision's guardrails read. ``customer_key`` is the key budget scopes and
    review summaries name (the pseudonym online); the key, id and digest identify the request
    to the budget (a retry finds its own hold)."""

    policy: CompiledPolicy
    customer_key: str
    features: Mapping[str, Any]
    request: Request
    history: History
    scores: Scores
    idempotency_key: str
    decision_id: str
    input_digest: str = ""
    paused: Pause | None = None  # the contract's spending is paused: no offer, nothing reserved


@dataclass(frozen=True, slots=True)
class Hold:
    """What the budget answered a reservation: granted (``ok``) or the scope that refused it;
    ``simulated`` when the books were only read (a backfill reserves nothing)."""

    id: str
    ok: bool
    rejected_scope: str | None = None
    simulated: bool = False


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    """A granted decision routed to a person: its hold lasts ``ttl_s`` while it waits."""

    decision_id: str
    hold_id: str
    ttl_s: float
    reason: str
    summary: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class GuardedDecision:
    """The outcome: arbitration's decision, its status, the budget hold and the review id."""

    decision: Decision
    status: Status
    hold: Hold | None = None
    review_id: str | None = None

    @property
    def granted(self) -> bool:
        """True when the offer holds budget (approved, or pending review)."""
        return self.hold is not None and self.hold.ok and not self.hold.simulated


class Budget(Protocol):
    """The books: what each scope has used before a decision (held + committed, points or
    counts), and an atomic reservation after it."""

    def used(self, scope_ids: Sequence[str]) -> Mapping[str, int]: ...

    def reserve(self, context: DecisionContext, lines: Sequence[Line], ttl_s: float) -> Hold: ...


class Reviews(Protocol):
    """Where a decision routed to review goes; returns the review's id (None: not submitted)."""

    def submit(self, request: ReviewRequest) -> str | None: ...
