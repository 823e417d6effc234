"""A policy ready to decide: CEL compiled once, offers and contact windows laid out for speed.

Compilation also type-checks every expression on neutral feature values, so an expression that
would fail for every customer is a validation error, not a silent "never eligible".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import cel

from guardrails.money import award_minor
from guardrails.policy.expressions import (
    Expression,
    compile_expression,
    default_catalogue,
    neutral_customer,
)
from guardrails.policy.issues import Issue, PolicyInvalidError
from guardrails.policy.loading import content_hash
from guardrails.policy.schema import Budget, ContactWindow, Offer, Policy

_SAMPLE_TIME = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class CompiledOffer:
    index: int
    offer: Offer
    cost_per_point: float
    currency: str
    static: dict[str, Any]  # the offer's fields as CEL sees them, without propensity
    applicability: Expression | None
    suitability: Expression | None

    @property
    def clause(self) -> str:
        return f"offers[{self.index}]"

    @property
    def money_value(self) -> float:
        """Money the offer pays besides its points (major units)."""
        return self.offer.money_value or 0.0

    def cost(self, points: int) -> float:
        """What an award of ``points`` costs in money (major units): points x cost per point
        plus the offer's money value."""
        return points * self.cost_per_point + self.money_value

    def money_minor(self, points: int) -> int:
        """The same cost in the ledger's integer minor units."""
        return award_minor(points, self.cost_per_point, self.money_value, self.currency)

    @property
    def expressions(self) -> tuple[Expression, ...]:
        return tuple(e for e in (self.applicability, self.suitability) if e is not None)

    def cel_offer(self, propensity: float | None) -> dict[str, Any] | None:
        """The ``offer`` map for this offer's expressions: only the fields they read."""
        fields = {f for e in self.expressions for f in e.offer_fields}
        if not fields:
            return None
        values = {**self.static, "propensity": propensity}
        return {f: values[f] for f in fields if values[f] is not None}


@dataclass(frozen=True)
class CompiledPolicy:
    """Everything decide() needs, computed once per policy version."""

    policy: Policy
    version: str
    catalogue: Mapping[str, dict]
    eligibility: Expression | None
    offers: tuple[CompiledOffer, ...]
    features: tuple[str, ...]  # every feature any expression reads (and nothing more)
    windows: Mapping[str, tuple[str, ContactWindow]]  # channel -> (clause, window)
    uses_cel: bool  # any expression at all: the CEL context is built only then

    @property
    def contract_id(self) -> str:
        return self.policy.contract_id

    def offer(self, offer_id: str) -> CompiledOffer:
        """The compiled offer with that id (KeyError if the catalogue has none)."""
        return self._by_id[offer_id]

    @cached_property
    def _by_id(self) -> dict[str, CompiledOffer]:
        return {co.offer.offer_id: co for co in self.offers}

    def window(self, channel: str) -> tuple[str, ContactWindow]:
        default = ("contact_policy.max_contacts", self.policy.contact_policy.max_contacts)
        return self.windows.get(channel, default)


def compile_policy(
    policy: Policy, catalogue: Mapping[str, dict] | None = None, source: str = "<policy>"
) -> CompiledPolicy:
    """Compile a validated policy; PolicyInvalidError lists every expression that cannot run."""
    compiled, issues = compile_checked(policy, catalogue, source)
    if compiled is None:
        raise PolicyInvalidError(issues)
    return compiled


def compile_checked(
    policy: Policy, catalogue: Mapping[str, dict] | None, source: str
) -> tuple[CompiledPolicy | None, list[Issue]]:
    """(compiled policy or None, issues): compile and check every expression of the policy."""
    catalogue = dict(catalogue) if catalogue is not None else default_catalogue()
    issues: list[Issue] = []

    def expr(text: str | None, path: str, per_offer: bool) -> Expression | None:
        if text is None:
            return None
        compiled, found = compile_expression(text, path, source, catalogue, per_offer)
        issues.extend(found)
        return compiled

    eligibility = expr(policy.eligibility, "eligibility", False)
    offers = tuple(
        _compiled_offer(i, offer, policy.budget, expr) for i, offer in enumerate(policy.offers)
    )
    expressions = [e for e in (eligibility, *_offer_expressions(offers)) if e is not None]
    issues += _trial_issues(expressions, offers, catalogue, source)
    if issues:
        return None, issues
    features = tuple(sorted({f for e in expressions for f in e.features}))
    per_channel = policy.contact_policy.per_channel
    windows = {str(ch): (f"contact_policy.per_channel.{ch}", w) for ch, w in per_channel.items()}
    compiled = CompiledPolicy(
        policy=policy,
        version=content_hash(policy),
        catalogue=catalogue,
        eligibility=eligibility,
        offers=offers,
        features=features,
        windows=windows,
        uses_cel=bool(expressions),
    )
    return compiled, []


def _compiled_offer(index: int, offer: Offer, budget: Budget, expr) -> CompiledOffer:
    static = {
        "offer_id": offer.offer_id,
        "type": offer.type,
        "points_cost": offer.points_cost,
        "value_to_program": offer.value_to_program,
        "channel": str(offer.channel),
    }
    return CompiledOffer(
        index=index,
        offer=offer,
        cost_per_point=budget.cost_per_point,
        currency=budget.currency,
        static=static,
        applicability=expr(offer.applicability, f"offers[{index}].applicability", True),
        suitability=expr(offer.suitability, f"offers[{index}].suitability", True),
    )


def _offer_expressions(offers: tuple[CompiledOffer, ...]) -> list[Expression | None]:
    return [e for o in offers for e in (o.applicability, o.suitability)]


def _trial_issues(
    expressions: list[Expression], offers: tuple[CompiledOffer, ...], catalogue, source: str
) -> list[Issue]:
    """Run each expression once on neutral values: type errors show up here, not in service."""
    names = tuple(sorted({f for e in expressions for f in e.features}))
    context = cel.Context(
        {
            "customer": neutral_customer(names, catalogue),
            "request": {"channel": "app", "partner_id": "", "time": _SAMPLE_TIME, "event": ""},
            "scores": {"churn": 0.5, "risk": 0.5},
        }
    )
    runs: list[tuple[Expression, CompiledOffer | None]] = [
        (e, None) for e in expressions if not e.path.startswith("offers[")
    ]
    runs += [(e, o) for o in offers for e in o.expressions]
    issues = []
    for expression, offer in runs:
        if offer is not None:
            context.add_variable("offer", offer.cel_offer(0.5) or {})
        _, why = expression.evaluate(context)
        if why is not None:
            message = f"does not give true or false on neutral feature values: {why}"
            issues.append(Issue(source, expression.path, message, expression.source))
    return issues
