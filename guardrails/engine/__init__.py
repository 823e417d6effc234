"""One entry point for a decision's guardrails: ``guard(context, budget, reviews)``.

The service (ledger and review queue), the policy simulation and the promotion gate's replay
(in-memory books) call it alike: contact state and consent from the customer's history, budget
left from the Budget, arbitration, the reservation of the chosen offer's ledger lines, review
routing and the decision's status.
"""

from __future__ import annotations

from dataclasses import replace

from guardrails.arbitration import decide
from guardrails.decision import WITHHELD, Consent, utc
from guardrails.engine.book_reasons import books_reason, paused_decision
from guardrails.engine.budgets import (
    BackfillBudget,
    Books,
    CountedReviews,
    LedgerBudget,
    QueueReviews,
)
from guardrails.engine.builders import (
    HOLD_TTL_S,
    REVIEW_TTL_S,
    budget_lines,
    budget_scope_ids,
    consent_of,
    contact_state,
    grant_lines,
    ledger_lines,
    read_scope_ids,
    remaining_from,
    review_request,
    scope_limits,
    status_of,
)
from guardrails.engine.counts import count_lines, grants_in_period
from guardrails.engine.period_rule import DEFAULT_SKEW_S, PeriodClosedError, check_current_period
from guardrails.engine.records import (
    Budget,
    DecisionContext,
    GuardedDecision,
    History,
    Hold,
    ReviewRequest,
    Reviews,
    Status,
)
from guardrails.periods import period_key
from guardrails.policy.compiled import CompiledPolicy
from guardrails.policy.rules import consent_blockers


def data_withheld(cp: CompiledPolicy, partner: str, consent: Consent) -> bool:
    """True when the contract's terms or the customer's consent do not allow this decision to
    use their data (or to make them an offer at all): it is then made from the consent record
    alone, with no feature read and no model run."""
    return bool(consent_blockers(cp, partner, consent))


def guard(context: DecisionContext, budget: Budget, reviews: Reviews) -> GuardedDecision:
    """The guarded decision for one context: read the books once (points left, the service's
    own grants and contacts), arbitrate, reserve the chosen grant's points and counts in one
    atomic reservation, route it to review when risk says so."""
    cp, ck = context.policy, context.customer_key
    now = utc(context.request.time)
    period = period_key(now, cp.policy.budget.period)
    if context.paused is not None:
        return GuardedDecision(paused_decision(cp, context, period), "no_offer")
    used = budget.used(read_scope_ids(cp, ck, period, now))
    state = contact_state(cp, context.history, context.features, period, ck, now, used)
    remaining = remaining_from(cp, ck, period, used)
    # data the customer's consent withholds is not used, whatever scores the caller has (the
    # service never computes them; an offline replay may have): one rule on both paths
    partner = context.request.partner_id or cp.policy.partner_id
    scores = WITHHELD if data_withheld(cp, partner, state.consent) else context.scores
    decision = decide(cp, context.features, context.request, state, scores, remaining)
    if decision.offer_id is None or decision.route == "reject":
        return GuardedDecision(decision, status_of(decision, None))
    lines = grant_lines(cp, context, decision.offer_id, decision.period, decision.points, used)
    hold = budget.reserve(context, lines, HOLD_TTL_S)
    if hold.ok:  # the reasons say what it drew from the books and what is left there
        books = books_reason(cp, decision, lines, used, hold.simulated)
        decision = replace(decision, reasons=(*decision.reasons, books))
    review_id = None
    if hold.ok and decision.route == "review":
        review_id = reviews.submit(review_request(context, decision, hold))
    return GuardedDecision(decision, status_of(decision, hold), hold, review_id)


__all__ = [
    "DEFAULT_SKEW_S",
    "HOLD_TTL_S",
    "REVIEW_TTL_S",
    "BackfillBudget",
    "Books",
    "Budget",
    "CountedReviews",
    "DecisionContext",
    "GuardedDecision",
    "History",
    "Hold",
    "LedgerBudget",
    "PeriodClosedError",
    "QueueReviews",
    "ReviewRequest",
    "Reviews",
    "Status",
    "budget_lines",
    "budget_scope_ids",
    "check_current_period",
    "consent_of",
    "contact_state",
    "count_lines",
    "data_withheld",
    "grant_lines",
    "grants_in_period",
    "guard",
    "ledger_lines",
    "read_scope_ids",
    "remaining_from",
    "review_request",
    "scope_limits",
    "status_of",
]
