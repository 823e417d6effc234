"""Arbitration: from scores and the contract's rules to one action and the reasons for it.

Pure: plain data in (features, request, contact state, scores, budget left), a Decision out.
Contract-level rules run once; each offer is checked, valued and ranked by expected value:

    EV = p_accept x value_to_program x w(churn) x f - (points x cost_per_point + money_value)
    w(churn) = (1 - churn_weight) + churn_weight x p_churn,  f = points granted / points_cost

Highest EV wins; ties go to the lower cost, then the smaller offer_id; no offer unless EV > 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cel

from guardrails.decision import (
    Candidate,
    ContactState,
    Decision,
    Reason,
    Remaining,
    Request,
    Route,
    Scores,
    utc,
)
from guardrails.explain import chosen_text, factor_reasons, no_offer_text
from guardrails.money import format_minor
from guardrails.periods import period_key
from guardrails.policy import rules
from guardrails.policy.compiled import CompiledOffer, CompiledPolicy
from guardrails.policy.expressions import customer_map


@dataclass(frozen=True, slots=True)
class Valued:
    """An eligible offer with the points it would get and its expected value."""

    co: CompiledOffer
    points: int
    expected_value: float
    p_accept: float
    weight: float


def churn_factor(churn: float, churn_weight: float) -> float:
    """w(churn): how much of an offer's value counts for this customer's churn risk."""
    return (1.0 - churn_weight) + churn_weight * churn


def expected_value(p_accept: float, value: float, weight: float, fraction: float, cost: float):
    """EV in money: value the program expects from the offer, minus what the award costs."""
    return p_accept * value * weight * fraction - cost


def rank_key(v: Valued) -> tuple[float, int, str]:
    """Deterministic order: highest EV, then fewer points, then offer id."""
    return (-v.expected_value, v.points, v.co.offer.offer_id)


def route_for(
    cp: CompiledPolicy, risk: float | None, withheld: bool = False
) -> tuple[Route, Reason]:
    """approve below approve_below, review below review_below, reject above; no score: review;
    not scored because consent withholds the customer's data: none (nothing to route)."""
    routing = cp.policy.risk_routing
    if withheld:
        text = (
            "Not scored: the customer's consent does not allow their data to be used, so no "
            "feature was read and no model ran."
        )
        return "none", Reason("not_scored", "consent", text, cp.version)
    if risk is None:
        text = "No risk score (model unavailable): a person reviews the decision (safe fallback)."
        return "review", Reason("risk_route", "risk_routing", text, cp.version)
    if risk < routing.approve_below:
        text = f"Risk score {risk:.2f} is below {routing.approve_below:.2f}: approved."
        return "approve", Reason("risk_route", "risk_routing.approve_below", text, cp.version)
    if risk < routing.review_below:
        text = (
            f"Risk score {risk:.2f} is between {routing.approve_below:.2f} and "
            f"{routing.review_below:.2f}: a person reviews it before anything is granted."
        )
        return "review", Reason("risk_route", "risk_routing.review_below", text, cp.version)
    text = f"Risk score {risk:.2f} is at or above {routing.review_below:.2f}: rejected, no offer."
    return "reject", Reason("risk_route", "risk_routing.review_below", text, cp.version)


def decide(
    cp: CompiledPolicy,
    features: Mapping[str, Any],
    request: Request,
    state: ContactState,
    scores: Scores,
    remaining: Remaining | None = None,
) -> Decision:
    """The decision for one request under one compiled policy (no I/O, no side effects)."""
    now = utc(request.time)
    period = period_key(now, cp.policy.budget.period)
    route, route_reason = route_for(cp, scores.risk, scores.withheld)
    partner = request.partner_id or cp.policy.partner_id
    blockers, context = _contract_level(cp, features, request, state, scores, now, partner)
    if blockers:
        return _decision(cp, period, route, None, (*blockers, route_reason))
    basis = (rules.consent_basis(cp, partner, state.consent), *factor_reasons(cp, scores))
    if route == "reject":
        return _decision(cp, period, route, None, (route_reason, *basis))
    if scores.churn is None and cp.policy.arbitration.churn_weight > 0:
        text = "No churn score (model unavailable): no offer is valued without it (safe fallback)."
        missing = Reason("missing_score", "arbitration.churn_weight", text, cp.version)
        return _decision(cp, period, route, None, (missing, route_reason, *basis))
    valued, candidates, excluded = _value_offers(cp, context, state, scores, remaining, now, period)
    best = min(valued, key=rank_key) if valued else None
    if best is None or best.expected_value <= 0:
        none = Reason("no_offer", "arbitration", no_offer_text(valued), cp.version)
        reasons = (none, *excluded, route_reason, *basis)
        return _decision(cp, period, route, None, reasons, candidates)
    chosen = _chosen_reasons(cp, best, valued)
    reasons = (*chosen, route_reason, *basis, *excluded)
    return _decision(cp, period, route, best, reasons, candidates)


def _contract_level(cp, features, request, state, scores, now, partner):
    """Rules evaluated once per decision; returns the binding reasons and the CEL context."""
    today = now.date()
    blockers = [r for r in (rules.in_force(cp, today), rules.blackout(cp, today)) if r]
    consent = rules.consent_blockers(cp, partner, state.consent)
    blockers += consent
    if consent:  # the customer's data may not be used: nothing below reads it
        return blockers, None
    context = _cel_context(cp, features, request, scores, now) if cp.uses_cel else None
    found = (rules.eligibility(cp, context), rules.suppression(cp, state.declines, now))
    blockers += [r for r in found if r]
    return blockers, context


def _cel_context(cp, features, request, scores, now) -> Any:
    variables = {
        "customer": customer_map(features, cp.features, cp.catalogue),
        "request": {
            "channel": request.channel or "",
            "partner_id": request.partner_id or cp.policy.partner_id,
            "time": now,
            "event": request.event or "",
        },
        "scores": {
            name: value
            for name, value in (("churn", scores.churn), ("risk", scores.risk))
            if value is not None
        },
    }
    return cel.Context(variables)


def _value_offers(cp, context, state, scores, remaining, now, period):
    """Check every offer in catalogue order; value the ones no rule excludes."""
    valued: list[Valued] = []
    candidates: list[Candidate] = []
    excluded: list[Reason] = []
    limits: dict[str, Reason | None] = {}
    for co in cp.offers:
        channel = co.static["channel"]
        if channel not in limits:
            limits[channel] = rules.contact_limit(
                cp, channel, state.contacts, now, state.own_contacts
            )
        reason, points = _offer_check(
            cp, co, context, state, scores, remaining, period, limits[channel]
        )
        if reason is not None:
            excluded.append(reason)
            candidates.append(Candidate(co.offer.offer_id, co.offer.points_cost, None, reason.code))
            continue
        v = _valued(cp, co, points, scores)
        valued.append(v)
        candidates.append(Candidate(co.offer.offer_id, points, round(v.expected_value, 6)))
    return valued, tuple(candidates), excluded


def _offer_check(cp, co, context, state, scores, remaining, period, limit):
    """The first rule that excludes the offer (or None) and the points it would be granted."""
    oid = co.offer.offer_id
    if context is not None and co.expressions:
        offer_map = co.cel_offer(scores.propensity.get(oid))
        if offer_map is not None:
            context.add_variable("offer", offer_map)
        found = rules.offer_expressions(cp, co, context)
        if found is not None:
            return found, 0
    if limit is not None:
        return Reason(limit.code, limit.clause, limit.text, cp.version, oid), 0
    found = rules.cap(cp, co, state, period)
    if found is not None:
        return found, 0
    points, found = _budget(cp, co, remaining)
    if found is None and oid not in scores.propensity:
        text = f"Offer {oid} has no propensity score, so it cannot be valued."
        found = Reason("no_propensity", co.clause, text, cp.version, oid)
    return found, points


def _budget(cp: CompiledPolicy, co: CompiledOffer, remaining: Remaining | None):
    """Points to grant under the over-limit behaviour, or the reason the budget excludes it:
    first the points left, then the money left for what those points cost."""
    cost = co.offer.points_cost
    left = remaining.for_offer(co.offer.offer_id) if remaining is not None else None
    points = cost
    if left is not None and left < cost:
        if left <= 0 or cp.policy.over_limit != "grant_remaining":
            text = (
                f"Offer {co.offer.offer_id} needs {cost} points but only {max(left, 0)} remain "
                f"this period; the contract's over-limit rule is '{cp.policy.over_limit}'."
            )
            return 0, Reason("budget", "over_limit", text, cp.version, co.offer.offer_id)
        points = left
    money_left = remaining.money_for_offer(co.offer.offer_id) if remaining is not None else None
    if money_left is None or co.money_minor(points) <= money_left:
        return points, None
    return _money_fit(cp, co, points, money_left)


def _money_fit(cp: CompiledPolicy, co: CompiledOffer, points: int, money_left: int):
    """The most points (up to ``points``) whose money fits what is left, when the contract
    grants what remains; otherwise the reason the money budget excludes the offer."""
    fit = 0
    if cp.policy.over_limit == "grant_remaining" and co.money_minor(1) <= money_left:
        low, high = 1, points  # money_minor grows with points: the largest that fits
        while low < high:
            mid = (low + high + 1) // 2
            low, high = (mid, high) if co.money_minor(mid) <= money_left else (low, mid - 1)
        fit = low
    if fit > 0:
        return fit, None
    currency = cp.policy.budget.currency
    text = (
        f"Offer {co.offer.offer_id} costs {format_minor(co.money_minor(points), currency)} but "
        f"only {format_minor(max(money_left, 0), currency)} remain this period; the contract's "
        f"over-limit rule is '{cp.policy.over_limit}'."
    )
    return 0, Reason("budget", "over_limit", text, cp.version, co.offer.offer_id)


def _valued(cp: CompiledPolicy, co: CompiledOffer, points: int, scores: Scores) -> Valued:
    p = float(scores.propensity[co.offer.offer_id])
    weight = churn_factor(scores.churn or 0.0, cp.policy.arbitration.churn_weight)
    cost = co.cost(points)
    fraction = points / co.offer.points_cost
    ev = expected_value(p, co.offer.value_to_program, weight, fraction, cost)
    return Valued(co, points, ev, p, weight)


def _chosen_reasons(cp: CompiledPolicy, best: Valued, valued: list[Valued]) -> list[Reason]:
    oid = best.co.offer.offer_id
    reasons = [Reason("chosen", best.co.clause, chosen_text(cp, best, valued), cp.version, oid)]
    if best.points < best.co.offer.points_cost:
        text = (
            f"Only {best.points} of the offer's {best.co.offer.points_cost} points fit what "
            f"remains this period; the contract grants what remains."
        )
        reasons.append(Reason("partial_grant", "over_limit", text, cp.version, oid))
    return reasons


def _decision(cp, period, route, best: Valued | None, reasons, candidates=()) -> Decision:
    points = best.points if best else 0
    return Decision(
        contract_id=cp.contract_id,
        policy_version=cp.version,
        period=period,
        route=route,
        offer_id=best.co.offer.offer_id if best else None,
        points=points,
        cost=round(best.co.cost(points), 6) if best else 0.0,
        expected_value=round(best.expected_value, 6) if best else None,
        reasons=tuple(reasons),
        candidates=tuple(candidates),
    )
