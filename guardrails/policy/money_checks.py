"""Money limits that cannot work together: a customer's above the contract's, a lifetime below
one period, a partner's below one of its contracts', an offer whose single award costs more than
its own limit. Amounts compared in minor units, so a cent is a cent."""

from __future__ import annotations

from guardrails.money import award_minor, format_minor, to_minor
from guardrails.policy.issues import Issue
from guardrails.policy.schema import Budget, Policy


def money_issues(policy: Policy, source: str) -> list[Issue]:
    """Every incoherent money limit of the policy, each at its own YAML path."""
    b = policy.budget
    return [
        *_contract_money(policy, source),
        *_above(b, source, "customer_money_per_period", "money_per_period", "the contract's"),
        *_above(b, source, "customer_total_money", "total_money", "the contract's"),
        *_below(b, source, "total_money", "money_per_period", "one period's"),
        *_below(b, source, "customer_total_money", "customer_money_per_period", "one period's"),
        *_partner(b, source),
        *_offer_money(policy, source),
    ]


def _minor(budget: Budget, field: str) -> int | None:
    amount = getattr(budget, field)
    return None if amount is None else to_minor(amount, budget.currency)


def _words(budget: Budget, minor: int) -> str:
    return format_minor(minor, budget.currency)


def _above(budget: Budget, source: str, field: str, bound: str, whose: str) -> list[Issue]:
    value, limit = _minor(budget, field), _minor(budget, bound)
    if value is None or limit is None or value <= limit:
        return []
    message = f"exceeds {whose} {bound} ({_words(budget, limit)})"
    return [Issue(source, f"budget.{field}", message, getattr(budget, field))]


def _below(budget: Budget, source: str, field: str, bound: str, whose: str) -> list[Issue]:
    value, limit = _minor(budget, field), _minor(budget, bound)
    if value is None or limit is None or value >= limit:
        return []
    message = f"is less than {whose} {bound} ({_words(budget, limit)})"
    return [Issue(source, f"budget.{field}", message, getattr(budget, field))]


def _partner(budget: Budget, source: str) -> list[Issue]:
    found = _below(
        budget, source, "partner_money_per_period", "money_per_period", "the contract's own"
    )
    for issue in found:
        issue_message = f"{issue.message}: the contract could never spend its budget"
        return [Issue(issue.source, issue.path, issue_message, issue.value)]
    return []


def _contract_money(policy: Policy, source: str) -> list[Issue]:
    """A money limit above what the points can ever cost, with no offer paying money besides
    its points, is never reached: most likely a typo."""
    b = policy.budget
    limit = _minor(b, "money_per_period")
    most = to_minor(b.points_per_period * b.cost_per_point, b.currency)
    if limit is None or limit <= most or any(o.money_value for o in policy.offers):
        return []
    message = (
        f"can never be reached: points_per_period x cost_per_point = {_words(b, most)} and no "
        "offer pays a money_value"
    )
    return [Issue(source, "budget.money_per_period", message, b.money_per_period)]


def _offer_money(policy: Policy, source: str) -> list[Issue]:
    b = policy.budget
    issues = []
    for i, offer in enumerate(policy.offers):
        award = award_minor(
            offer.points_cost, b.cost_per_point, offer.money_value or 0.0, b.currency
        )
        for field in ("money_per_period", "total_money"):
            amount = getattr(offer, field)
            if amount is not None and to_minor(amount, b.currency) < award:
                message = f"can never be granted: one award costs {_words(b, award)}"
                issues.append(Issue(source, f"offers[{i}].{field}", message, amount))
    return issues
