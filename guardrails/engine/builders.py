"""Pure builders of everything arbitration and the ledger need for one decision: consent,
contact state, the budget scopes and what is left of them, the ledger lines, the TTLs and the
status. Plain data in, plain data out; the online service and the offline simulation share them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from guardrails.decision import Consent, ContactState, Decision, Remaining
from guardrails.engine.records import DecisionContext, History, Hold, ReviewRequest, Status
from guardrails.ledger.model import Line, Scope, ScopeKind, ScopeLimits, decision_lines
from guardrails.periods import period_key
from guardrails.policy.compiled import CompiledPolicy

HOLD_TTL_S = 900.0  # an unconfirmed reservation is released after this
REVIEW_TTL_S = 86_400.0  # a hold waiting for review lasts this long


def consent_of(cp: CompiledPolicy, features: Mapping[str, Any]) -> Consent:
    """The customer's consent under the contract: their own partner unless data sharing was
    withdrawn, the contract's ``consent.data_sharing_partners`` with data-sharing consent
    (docs/policies.md, "One rule online and offline")."""
    return Consent.from_features(features, cp.policy.consent.data_sharing_partners)


def grants_in_period(sends: Sequence[tuple[str, Any]], kind: str, period: str) -> dict[str, int]:
    """Offers sent per offer id in the decision's period (what caps count)."""
    grants: dict[str, int] = {}
    for offer_id, at in sends:
        if period_key(at, kind) == period:
            grants[offer_id] = grants.get(offer_id, 0) + 1
    return grants


def contact_state(
    cp: CompiledPolicy, history: History, features: Mapping[str, Any], period: str
) -> ContactState:
    """Contacts, declines, grants in ``period`` and consent, as arbitration reads them."""
    grants = grants_in_period(history.sends, cp.policy.budget.period, period)
    return ContactState(history.contacts, history.declines, grants, consent_of(cp, features))


def scope_limits(cp: CompiledPolicy, offer_id: str) -> ScopeLimits:
    """The limits of one offer's award: contract and customer per period, the offer's own, the
    contract's lifetime ``total_points``; the partner scope is tracked, never limited."""
    b = cp.policy.budget
    offer = next(co.offer for co in cp.offers if co.offer.offer_id == offer_id)
    return ScopeLimits(
        contract=b.points_per_period,
        customer=b.customer_points_per_period,
        offer=offer.points_per_period,
        contract_lifetime=b.total_points,
    )


def ledger_lines(
    cp: CompiledPolicy, customer_key: str, offer_id: str, period: str, amount: int
) -> list[Line]:
    """Every scope one award draws on, with its limit."""
    return decision_lines(
        contract_id=cp.contract_id,
        partner_id=cp.policy.partner_id,
        customer_key=customer_key,
        offer_id=offer_id,
        period=period,
        amount=amount,
        limits=scope_limits(cp, offer_id),
    )


def budget_lines(cp: CompiledPolicy, customer_key: str, period: str) -> list[Line]:
    """Every scope any offer of the contract may draw on in ``period`` (amounts 0): the shared
    lines once, then each offer's own."""
    first = ledger_lines(cp, customer_key, cp.offers[0].offer.offer_id, period, 0)
    shared = [ln for ln in first if ln.scope.kind is not ScopeKind.OFFER]
    offers = [
        Line(Scope(ScopeKind.OFFER, co.offer.offer_id, period), 0, co.offer.points_per_period)
        for co in cp.offers
    ]
    return [*shared, *offers]


def budget_scope_ids(cp: CompiledPolicy, customer_key: str, period: str) -> list[str]:
    """The scope ids to read before a decision (one read of their balances)."""
    return sorted({ln.scope.id for ln in budget_lines(cp, customer_key, period)})


def remaining_from(
    cp: CompiledPolicy, customer_key: str, period: str, used: Mapping[str, int]
) -> Remaining:
    """Points left per scope from what is used per scope id (reserved + committed): the
    contract's is the least of its period, lifetime and partner scopes that have a limit."""
    contract: list[int] = []
    customer: int | None = None
    offers: dict[str, int] = {}
    for line in budget_lines(cp, customer_key, period):
        if line.limit is None:
            continue
        left = line.limit - used.get(line.scope.id, 0)
        kind = line.scope.kind
        if kind is ScopeKind.OFFER:
            offers[line.scope.key] = left
        elif kind is ScopeKind.CUSTOMER:
            customer = left
        else:
            contract.append(left)
    return Remaining(contract=min(contract, default=None), customer=customer, offers=offers)


def status_of(decision: Decision, hold: Hold | None) -> Status:
    """rejected (risk, or the ledger refused the hold), no_offer, pending_review or approved."""
    if decision.route == "reject":
        return "rejected"
    if decision.offer_id is None:
        return "no_offer"
    if hold is not None and not hold.ok:
        return "rejected"
    return "pending_review" if decision.route == "review" else "approved"


def review_request(context: DecisionContext, decision: Decision, hold: Hold) -> ReviewRequest:
    """What a reviewer sees: the customer's key (never the raw id), offer, points, risk."""
    risk = context.scores.risk
    summary = {
        "customer": context.customer_key,
        "offer_id": decision.offer_id,
        "points": decision.points,
        "risk": risk,
        "contract_id": context.policy.contract_id,
    }
    reason = f"risk {risk:.2f}" if risk is not None else "no risk score"
    return ReviewRequest(context.decision_id, hold.id, REVIEW_TTL_S, reason, summary)
