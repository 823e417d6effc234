"""Checks that span several fields of a schema-valid policy: what pydantic alone cannot say."""

from __future__ import annotations

from guardrails.periods import periods_between
from guardrails.policy.issues import Issue
from guardrails.policy.money_checks import money_issues
from guardrails.policy.schema import Policy


def policy_issues(policy: Policy, source: str) -> list[Issue]:
    """Duplicate offer ids, dates and thresholds out of order, budgets that do not add up."""
    return [
        *_duplicate_offers(policy, source),
        *_dates(policy, source),
        *_thresholds(policy, source),
        *_budget(policy, source),
        *_offer_budgets(policy, source),
        *money_issues(policy, source),
    ]


def _duplicate_offers(policy: Policy, source: str) -> list[Issue]:
    first: dict[str, int] = {}
    issues = []
    for i, offer in enumerate(policy.offers):
        if offer.offer_id in first:
            where = f"offers[{first[offer.offer_id]}]"
            message = f"duplicate offer id (already used at {where})"
            issues.append(Issue(source, f"offers[{i}].offer_id", message, offer.offer_id))
        else:
            first[offer.offer_id] = i
    return issues


def _dates(policy: Policy, source: str) -> list[Issue]:
    issues = []
    if policy.valid_to <= policy.valid_from:
        message = f"must be after valid_from ({policy.valid_from.isoformat()})"
        issues.append(Issue(source, "valid_to", message, policy.valid_to.isoformat()))
    for i, blackout in enumerate(policy.blackouts):
        if blackout.ends < blackout.starts:
            message = f"blackout ends before it starts ({blackout.starts.isoformat()})"
            issues.append(Issue(source, f"blackouts[{i}].to", message, blackout.ends.isoformat()))
    return issues


def _thresholds(policy: Policy, source: str) -> list[Issue]:
    routing = policy.risk_routing
    if routing.approve_below <= routing.review_below:
        return []
    message = f"thresholds out of order: must not exceed review_below ({routing.review_below})"
    return [Issue(source, "risk_routing.approve_below", message, routing.approve_below)]


def _budget(policy: Policy, source: str) -> list[Issue]:
    budget = policy.budget
    issues = []
    if budget.total_points is not None:
        periods = periods_between(policy.valid_from, policy.valid_to, budget.period)
        most = budget.points_per_period * periods
        if budget.total_points < budget.points_per_period:
            message = f"is less than one period's budget ({budget.points_per_period})"
            issues.append(Issue(source, "budget.total_points", message, budget.total_points))
        elif budget.total_points > most:
            message = f"exceeds what {periods} {budget.period}(s) can spend ({most})"
            issues.append(Issue(source, "budget.total_points", message, budget.total_points))
    per_customer = budget.customer_points_per_period
    if per_customer is not None and per_customer > budget.points_per_period:
        message = f"exceeds the contract's points_per_period ({budget.points_per_period})"
        issues.append(Issue(source, "budget.customer_points_per_period", message, per_customer))
    return issues + _scope_limits(policy, source)


def _scope_limits(policy: Policy, source: str) -> list[Issue]:
    """The customer's lifetime and the partner's period limits against the contract's."""
    budget = policy.budget
    issues = []
    lifetime = budget.customer_total_points
    if lifetime is not None and budget.total_points is not None and lifetime > budget.total_points:
        message = f"exceeds the contract's total_points ({budget.total_points})"
        issues.append(Issue(source, "budget.customer_total_points", message, lifetime))
    per_period = budget.customer_points_per_period
    if lifetime is not None and per_period is not None and lifetime < per_period:
        message = f"is less than one period's customer_points_per_period ({per_period})"
        issues.append(Issue(source, "budget.customer_total_points", message, lifetime))
    partner = budget.partner_points_per_period
    if partner is not None and partner < budget.points_per_period:
        message = (
            f"is less than the contract's own points_per_period ({budget.points_per_period}): "
            "the contract could never spend its budget"
        )
        issues.append(Issue(source, "budget.partner_points_per_period", message, partner))
    return issues


def _offer_budgets(policy: Policy, source: str) -> list[Issue]:
    budget = policy.budget
    issues = []
    for i, offer in enumerate(policy.offers):
        limits = [("the contract's points_per_period", budget.points_per_period)]
        if budget.customer_points_per_period is not None:
            limits.append(("budget.customer_points_per_period", budget.customer_points_per_period))
        if offer.points_per_period is not None:
            limits.append((f"offers[{i}].points_per_period", offer.points_per_period))
        for name, limit in limits:
            if offer.points_cost > limit:
                message = f"can never be granted: exceeds {name} ({limit})"
                issues.append(Issue(source, f"offers[{i}].points_cost", message, offer.points_cost))
        if (
            offer.points_per_period is not None
            and offer.points_per_period > budget.points_per_period
        ):
            message = f"exceeds the contract's points_per_period ({budget.points_per_period})"
            path = f"offers[{i}].points_per_period"
            issues.append(Issue(source, path, message, offer.points_per_period))
    return issues
