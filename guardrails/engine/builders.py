"""Pure builders of everything arbitration and the ledger need for one decision: consent,
contact state, the budget scopes and what is left of them, the ledger lines, the TTLs and the
status. Plain data in, plain data out; the online service and the offline simulation share them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from guardrails.decision import Consent, ContactState, Decision, Remaining
from guardrails.engine.counts import (
    count_lines,
    count_scope_ids,
    grants_in_period,
    own_contacts,
    own_grants,
)
from guardrails.engine.records import DecisionContext, History, Hold, ReviewRequest, Status
from guardrails.ledger.model import Line, Scope, ScopeKind, ScopeLimits, decision_lines
from guardrails.money import to_minor
from guardrails.periods import previous_period
from guardrails.policy.compiled import CompiledPolicy
from guardrails.policy.schema import Offer

HOLD_TTL_S = 900.0  # an unconfirmed reservation is released after this
REVIEW_TTL_S = 86_400.0  # a hold waiting for review lasts this long


def consent_of(
    cp: CompiledPolicy, features: Mapping[str, Any], sources: Mapping[str, str] | None = None
) -> Consent:
    """The customer's consent under the contract: their own partner unless data sharing was
    withdrawn, the contract's ``consent.data_sharing_partners`` with data-sharing consent
    (docs/policies.md, "One rule online and offline")."""
    return Consent.from_features(features, cp.policy.consent.data_sharing_partners, sources)


def contact_state(
    cp: CompiledPolicy,
    history: History,
    features: Mapping[str, Any],
    period: str,
    customer_key: str = "",
    now: dt.datetime | None = None,
    used: Mapping[str, int] | None = None,
) -> ContactState:
    """Contacts, declines, grants in ``period`` and consent, as arbitration reads them: what
    other systems reported (the history) plus the service's own grants (the books)."""
    grants = grants_in_period(history.sends, cp.policy.budget.period, period)
    own: dict[str, int] = {}
    if used is not None and now is not None:
        for offer_id, n in own_grants(cp, customer_key, period, used).items():
            grants[offer_id] = grants.get(offer_id, 0) + n
        own = own_contacts(cp, customer_key, now, used)
    consent = consent_of(cp, features, history.consent_sources)
    return ContactState(history.contacts, history.declines, grants, consent, own)


@dataclass(frozen=True)
class Carry:
    """What the previous period left unspent and the current one may add (points, minor units)."""

    points: int = 0
    money: int = 0


NO_CARRY = Carry()


def carried(cp: CompiledPolicy, period: str, used: Mapping[str, int]) -> Carry:
    """Points (and money, where the contract limits it) the previous period left unspent, when
    the contract carries them over: its per-period limit less what it used; a period's carry
    does not carry again."""
    b = cp.policy.budget
    if not b.carry_over:
        return NO_CARRY
    before = previous_period(period, b.period)
    points = b.points_per_period - used.get(Scope(ScopeKind.CONTRACT, cp.contract_id, before).id, 0)
    money = 0
    if b.money_per_period is not None:
        spent = used.get(Scope(ScopeKind.CONTRACT_MONEY, cp.contract_id, before).id, 0)
        money = to_minor(b.money_per_period, b.currency) - spent
    return Carry(max(points, 0), max(money, 0))


def scope_limits(cp: CompiledPolicy, offer_id: str, carry: int = 0) -> ScopeLimits:
    """The points limits of one offer's award: contract, partner and customer per period and
    over their lifetime, the offer's own (None: tracked, not limited)."""
    b = cp.policy.budget
    offer = cp.offer(offer_id).offer
    return ScopeLimits(
        contract=b.points_per_period + carry,
        partner=b.partner_points_per_period,
        customer=b.customer_points_per_period,
        offer=offer.points_per_period,
        contract_lifetime=b.total_points,
        partner_lifetime=b.partner_total_points,
        customer_lifetime=b.customer_total_points,
        offer_lifetime=offer.total_points,
    )


def money_limits(cp: CompiledPolicy, offer_id: str, carry: int = 0) -> ScopeLimits:
    """The same scopes' money limits in minor units (None: not limited in money)."""
    b = cp.policy.budget
    offer = cp.offer(offer_id).offer

    def minor(amount: float | None, extra: int = 0) -> int | None:
        return None if amount is None else to_minor(amount, b.currency) + extra

    return ScopeLimits(
        contract=minor(b.money_per_period, carry),
        partner=minor(b.partner_money_per_period),
        customer=minor(b.customer_money_per_period),
        offer=minor(offer.money_per_period),
        contract_lifetime=minor(b.total_money),
        partner_lifetime=minor(b.partner_total_money),
        customer_lifetime=minor(b.customer_total_money),
        offer_lifetime=minor(offer.total_money),
    )


def ledger_lines(
    cp: CompiledPolicy,
    customer_key: str,
    offer_id: str,
    period: str,
    amount: int,
    carry: Carry = NO_CARRY,
) -> list[Line]:
    """Every budget scope an award of ``amount`` points draws on, in points and in money, with
    its limit."""
    return decision_lines(
        contract_id=cp.contract_id,
        partner_id=cp.policy.partner_id,
        customer_key=customer_key,
        offer_id=offer_id,
        period=period,
        amount=amount,
        limits=scope_limits(cp, offer_id, carry.points),
        money=cp.offer(offer_id).money_minor(amount) if amount else 0,
        money_limits=money_limits(cp, offer_id, carry.money),
    )


def grant_lines(
    cp: CompiledPolicy,
    context: DecisionContext,
    offer_id: str,
    period: str,
    amount: int,
    used: Mapping[str, int],
) -> list[Line]:
    """Every line one grant reserves: its points and money in every budget scope, its counts."""
    ck, now = context.customer_key, context.request.time
    carry = carried(cp, period, used)
    return [
        *ledger_lines(cp, ck, offer_id, period, amount, carry),
        *count_lines(cp, ck, offer_id, period, now, context.history),
    ]


def budget_lines(
    cp: CompiledPolicy, customer_key: str, period: str, carry: Carry = NO_CARRY
) -> list[Line]:
    """Every budget scope any offer of the contract may draw on in ``period`` (amounts 0): the
    contract's, partner's and offers' lines (the same for every customer: built once per policy
    version, period and carry), then the customer's own."""
    return [*_shared_lines(cp, period, carry), *_customer_lines(cp, customer_key, period)]


_SHARED: dict[tuple[str, str, str, Carry], tuple[Line, ...]] = {}


def _shared_lines(cp: CompiledPolicy, period: str, carry: Carry) -> tuple[Line, ...]:
    key = (cp.contract_id, cp.version, period, carry)
    found = _SHARED.get(key)
    if found is None:
        first = ledger_lines(cp, "", cp.offers[0].offer.offer_id, period, 0, carry)
        owners = (ScopeKind.OFFER, ScopeKind.CUSTOMER)
        shared = [ln for ln in first if ln.scope.kind.owner not in owners]
        offers = [ln for co in cp.offers for ln in _offer_lines(cp, co.offer, period)]
        if len(_SHARED) > 4096:  # policy versions and periods come and go: stay bounded
            _SHARED.clear()
        found = _SHARED[key] = (*shared, *offers)
    return found


def _customer_lines(cp: CompiledPolicy, customer_key: str, period: str) -> list[Line]:
    """The customer's scopes as ``decision_lines`` makes them: points per period and over the
    contract's life always, money where limited."""
    b = cp.policy.budget
    lines = [
        Line(Scope(ScopeKind.CUSTOMER, customer_key, period), 0, b.customer_points_per_period),
        Line(Scope(ScopeKind.CUSTOMER, customer_key), 0, b.customer_total_points),
    ]
    for at, amount in ((period, b.customer_money_per_period), (None, b.customer_total_money)):
        if amount is not None:
            limit = to_minor(amount, b.currency)
            lines.append(Line(Scope(ScopeKind.CUSTOMER_MONEY, customer_key, at), 0, limit))
    return lines


def _offer_lines(cp: CompiledPolicy, offer: Offer, period: str) -> list[Line]:
    """An offer's own scopes: points per period always, the rest where limited."""
    currency = cp.policy.budget.currency
    oid = offer.offer_id
    lines = [Line(Scope(ScopeKind.OFFER, oid, period), 0, offer.points_per_period)]
    if offer.total_points is not None:
        lines.append(Line(Scope(ScopeKind.OFFER, oid), 0, offer.total_points))
    for at, amount in ((period, offer.money_per_period), (None, offer.total_money)):
        if amount is not None:
            lines.append(Line(Scope(ScopeKind.OFFER_MONEY, oid, at), 0, to_minor(amount, currency)))
    return lines


def budget_scope_ids(cp: CompiledPolicy, customer_key: str, period: str) -> list[str]:
    """The budget scope ids to read before a decision."""
    return sorted({ln.scope.id for ln in budget_lines(cp, customer_key, period)})


def read_scope_ids(
    cp: CompiledPolicy, customer_key: str, period: str, now: dt.datetime
) -> list[str]:
    """Every scope a decision reads before it arbitrates (one read of their balances); with
    carry-over, the previous period's contract scopes too."""
    ids = {*budget_scope_ids(cp, customer_key, period)}
    b = cp.policy.budget
    if b.carry_over:
        before = previous_period(period, b.period)
        ids.add(Scope(ScopeKind.CONTRACT, cp.contract_id, before).id)
        ids.add(Scope(ScopeKind.CONTRACT_MONEY, cp.contract_id, before).id)
    ids.update(count_scope_ids(cp, customer_key, period, now))
    return list(ids)


def remaining_from(
    cp: CompiledPolicy, customer_key: str, period: str, used: Mapping[str, int]
) -> Remaining:
    """What is left per scope from what is used per scope id (reserved + committed), in points
    and in minor units: the contract's is the least of its period, lifetime and partner scopes
    that have a limit, the customer's the least of theirs, each offer's its own."""
    left: dict[tuple[str, ScopeKind], list[int]] = {}
    offers: dict[str, dict[str, int]] = {"points": {}, "money": {}}
    for line in budget_lines(cp, customer_key, period, carried(cp, period, used)):
        if line.limit is None:
            continue
        kind = line.scope.kind
        rest = line.limit - used.get(line.scope.id, 0)
        if kind.owner is ScopeKind.OFFER:
            mine = offers[kind.unit]
            mine[line.scope.key] = min(rest, mine.get(line.scope.key, rest))
        else:
            owner = ScopeKind.CUSTOMER if kind.owner is ScopeKind.CUSTOMER else ScopeKind.CONTRACT
            left.setdefault((kind.unit, owner), []).append(rest)

    def least(unit: str, owner: ScopeKind) -> int | None:
        return min(left.get((unit, owner), []), default=None)

    return Remaining(
        contract=least("points", ScopeKind.CONTRACT),
        customer=least("points", ScopeKind.CUSTOMER),
        offers=offers["points"],
        contract_money=least("money", ScopeKind.CONTRACT),
        customer_money=least("money", ScopeKind.CUSTOMER),
        offer_money=offers["money"],
    )


def status_of(decision: Decision, hold: Hold | None) -> Status:
    """rejected (risk, or the ledger refused the hold), no_offer, simulated (a backfill: the
    books allowed it, nothing was reserved), pending_review or approved."""
    if decision.route == "reject":
        return "rejected"
    if decision.offer_id is None:
        return "no_offer"
    if hold is not None and not hold.ok:
        return "rejected"
    if hold is not None and hold.simulated:
        return "simulated"
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
