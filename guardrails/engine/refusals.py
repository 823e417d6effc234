"""Why the books refused a grant at reservation time, in words: the scope names the rule."""

from __future__ import annotations

from guardrails.decision import Decision, Reason
from guardrails.ledger.model import Scope, ScopeKind
from guardrails.policy.compiled import CompiledPolicy


def refusal_reason(cp: CompiledPolicy, decision: Decision, scope_id: str | None) -> Reason:
    """The reason a reservation was refused: a cap or contact window reached, or a budget scope
    short of points, by a decision that reserved first (a concurrent one, or this customer's)."""
    scope = Scope.parse(scope_id) if scope_id else None
    kind = scope.kind if scope is not None else None
    oid = decision.offer_id
    if scope is not None and kind is ScopeKind.CAP:
        text = (
            f"The cap of offer {oid} for this customer in {scope.period} was reached when "
            "the grant was reserved (another decision for the customer took it first)."
        )
        return Reason("cap", "cap_per_customer_per_period", text, cp.version, oid)
    if scope is not None and kind is ScopeKind.CONTACT:
        channel = scope.key.rsplit("/", 1)[-1]
        text = (
            f"The customer's contact limit by {channel} was reached when the grant was "
            "reserved (another decision for the customer took it first)."
        )
        return Reason("contact_limit", "contact_policy", text, cp.version, oid)
    text = (
        f"The budget ledger refused the reservation: scope {scope_id} has not enough points "
        "left (another decision took them first)."
    )
    return Reason("budget", "budget", text, cp.version, oid)
