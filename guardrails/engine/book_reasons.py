"""The books in words: why a reservation was refused (its scope names the rule), and what a
granted decision drew and left in each limited scope."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from guardrails.arbitration import route_for
from guardrails.decision import Decision, Reason
from guardrails.engine.records import DecisionContext
from guardrails.ledger.model import Line, Scope, ScopeKind
from guardrails.money import format_minor
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
    unit = "money" if kind is not None and kind.unit == "money" else "points"
    text = (
        f"The budget ledger refused the reservation: scope {scope_id} has not enough {unit} "
        "left (another decision took them first)."
    )
    return Reason("budget", "budget", text, cp.version, oid)


def books_reason(
    cp: CompiledPolicy,
    decision: Decision,
    lines: Sequence[Line],
    used: Mapping[str, int],
    simulated: bool = False,
) -> Reason:
    """What a granted decision drew from the books and what is left in each limited scope:
    points per budget scope, grants against the offer's cap, contacts against the window."""
    parts = []
    for line in lines:
        if line.limit is None:
            continue
        taken = used.get(line.scope.id, 0) + sum(used.get(w, 0) for w in line.window)
        left = line.limit - taken - line.amount
        parts.append(_scope_words(cp, line, left))
    verb = "Would reserve" if simulated else "Reserved"
    scopes = "; ".join(parts) or "no scope is limited"
    money = next((ln.amount for ln in lines if ln.scope.kind is ScopeKind.CONTRACT_MONEY), None)
    spent = f" ({format_minor(money, _currency(cp))})" if money is not None else ""
    text = f"{verb} {decision.points} points{spent} from the books; {scopes}."
    return Reason("books", "budget", text, cp.version, decision.offer_id)


def _scope_words(cp: CompiledPolicy, line: Line, left: int) -> str:
    scope = line.scope
    when = f" in {scope.period}" if scope.period else " over its lifetime"
    if scope.kind is ScopeKind.CAP:
        offer = scope.key.rsplit("/", 1)[-1]
        return f"offer {offer}: {left} more grant(s) to this customer{when} (cap {line.limit})"
    if scope.kind is ScopeKind.CONTACT:
        channel = scope.key.rsplit("/", 1)[-1]
        return f"{left} more {channel} contact(s) in {len(line.window)} days (limit {line.limit})"
    owner_kind = scope.kind.owner
    owner = "the customer" if owner_kind is ScopeKind.CUSTOMER else f"{owner_kind} {scope.key}"
    if scope.kind.unit == "money":
        currency = _currency(cp)
        of = f"{format_minor(left, currency)} of {format_minor(line.limit or 0, currency)}"
        return f"{owner}{when}: {of} left"
    return f"{owner}{when}: {left} of {line.limit} points left"


def _currency(cp: CompiledPolicy) -> str:
    return cp.policy.budget.currency


def paused_decision(cp: CompiledPolicy, context: DecisionContext, period: str) -> Decision:
    """No offer: the contract's spending is paused (who, since when, why)."""
    pause = context.paused
    if pause is None:
        raise ValueError("only a paused contract's decision")
    why = f": {pause.reason}" if pause.reason else ""
    text = (
        f"Contract {cp.contract_id}'s spending is paused since "
        f"{pause.at.isoformat().replace('+00:00', 'Z')} by {pause.by}{why}; no offer until it "
        "resumes."
    )
    route, _ = route_for(cp, context.scores.risk)
    reason = Reason("paused", "contract_controls", text, cp.version)
    return Decision(cp.contract_id, cp.version, period, route, None, 0, 0.0, None, (reason,))
