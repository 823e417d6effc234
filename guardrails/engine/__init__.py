"""One entry point for a decision's guardrails: ``guard(context, budget, reviews)``.

The service (ledger and review queue), the policy simulation and the promotion gate's replay
(in-memory books) call it alike: contact state and consent from the customer's history, budget
left from the Budget, arbitration, the reservation of the chosen offer's ledger lines, review
routing and the decision's status.
"""

from __future__ import annotations

from guardrails.arbitration import decide
from guardrails.decision import utc
from guardrails.engine.budgets import Books, CountedReviews, LedgerBudget, QueueReviews
from guardrails.engine.builders import (
    HOLD_TTL_S,
    REVIEW_TTL_S,
    budget_lines,
    budget_scope_ids,
    consent_of,
    contact_state,
    grants_in_period,
    ledger_lines,
    remaining_from,
    review_request,
    scope_limits,
    status_of,
)
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


def guard(context: DecisionContext, budget: Budget, reviews: Reviews) -> GuardedDecision:
    """The guarded decision for one context: arbitrate within the budget left, reserve the
    chosen offer's points (one atomic reservation), route it to review when risk says so."""
    cp = context.policy
    period = period_key(utc(context.request.time), cp.policy.budget.period)
    state = contact_state(cp, context.history, context.features, period)
    remaining = budget.remaining(cp, context.customer_key, period)
    decision = decide(cp, context.features, context.request, state, context.scores, remaining)
    if decision.offer_id is None or decision.route == "reject":
        return GuardedDecision(decision, status_of(decision, None))
    lines = ledger_lines(
        cp, context.customer_key, decision.offer_id, decision.period, decision.points
    )
    hold = budget.reserve(context, lines, HOLD_TTL_S)
    review_id = None
    if hold.ok and decision.route == "review":
        review_id = reviews.submit(review_request(context, decision, hold))
    return GuardedDecision(decision, status_of(decision, hold), hold, review_id)


__all__ = [
    "HOLD_TTL_S",
    "REVIEW_TTL_S",
    "Books",
    "Budget",
    "CountedReviews",
    "DecisionContext",
    "GuardedDecision",
    "History",
    "Hold",
    "LedgerBudget",
    "QueueReviews",
    "ReviewRequest",
    "Reviews",
    "Status",
    "budget_lines",
    "budget_scope_ids",
    "consent_of",
    "contact_state",
    "grants_in_period",
    "guard",
    "ledger_lines",
    "remaining_from",
    "review_request",
    "scope_limits",
    "status_of",
]
