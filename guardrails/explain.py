"""Reasons in words an auditor understands: the arithmetic behind a choice and the model factors.

Pure string building over plain data; the clauses named tie each sentence to the contract term
that it applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from guardrails.decision import Reason, Scores

if TYPE_CHECKING:
    from guardrails.arbitration import Valued
    from guardrails.policy.compiled import CompiledPolicy

TOP_FACTORS = 3
_FACTOR_CLAUSES = {"churn": "arbitration.churn_weight", "risk": "risk_routing"}
_MODEL_ORDER = {"churn": 0, "risk": 1, "propensity": 2}


def _money(cp: CompiledPolicy, amount: float) -> str:
    return f"{amount:,.2f} {cp.policy.budget.currency}"


def chosen_text(cp: CompiledPolicy, best: Valued, valued: Sequence[Valued]) -> str:
    """Why this offer: its expected value, spelled out, and how it ranked."""
    policy = cp.policy
    offer = best.co.offer
    weight = policy.arbitration.churn_weight
    cost = best.co.cost(best.points)
    parts = [
        f"Offer {offer.offer_id} ({offer.type}, {best.points} points) has the highest expected "
        f"value of {len(valued)} eligible offer(s): {_money(cp, best.expected_value)}",
        f" = acceptance {best.p_accept:.2f} x value {_money(cp, offer.value_to_program)}",
    ]
    if weight > 0:
        churn = best.weight
        parts.append(f" x churn weight {churn:.2f} (churn_weight {weight:g})")
    if best.points < offer.points_cost:
        parts.append(f" x {best.points}/{offer.points_cost} granted")
    parts.append(f" - cost {_money(cp, cost)}.")
    return "".join(parts)


def no_offer_text(valued: Sequence[Valued]) -> str:
    if not valued:
        return "No offer: every offer in the catalogue is excluded by a contract rule."
    best = max(v.expected_value for v in valued)
    return (
        f"No offer: none of the {len(valued)} eligible offer(s) has a positive expected value "
        f"(best {best:,.2f})."
    )


def factor_reasons(cp: CompiledPolicy, scores: Scores) -> list[Reason]:
    """One reason per model with factors: its score and what pushed it up or down most."""
    out = []
    for model in sorted(scores.factors, key=lambda m: (_MODEL_ORDER.get(m, 9), m)):
        factors = sorted(scores.factors[model], key=lambda fc: (-abs(fc[1]), fc[0]))
        if not factors:
            continue
        value = {"churn": scores.churn, "risk": scores.risk}.get(model)
        head = (
            f"{model.capitalize()} score {value:.2f}" if value is not None else model.capitalize()
        )
        words = ", ".join(_factor(name, c) for name, c in factors[:TOP_FACTORS])
        text = f"{head}; main factors: {words}."
        clause = _FACTOR_CLAUSES.get(model, "arbitration")
        out.append(Reason("model_factors", clause, text, cp.version))
    return out


def _factor(name: str, contribution: float) -> str:
    direction = "raises" if contribution >= 0 else "lowers"
    label = name.removeprefix("customer.").replace("_", " ")
    return f"{label} ({direction} it by {abs(contribution):.2f})"
