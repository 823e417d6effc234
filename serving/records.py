"""The decision as answered and as recorded: the response body and its audit record."""

from __future__ import annotations

from guardrails.audit import AuditRecord, DecisionLog
from guardrails.engine import GuardedDecision
from guardrails.engine.book_reasons import refusal_reason


def build_response(
    core, req, cp, guarded: GuardedDecision, scores, fx, models, now, decision_id, shadow
) -> dict:
    decision, reservation = guarded.decision, guarded.hold
    reasons = [_reason(r) for r in decision.reasons]
    if reservation is not None and not reservation.ok:
        refused = refusal_reason(cp, decision, reservation.rejected_scope)
        reasons.insert(0, _reason(refused))
    granted = guarded.granted
    shown = granted or guarded.status == "simulated"  # a backfill shows what it would grant
    return {
        "decision_id": decision_id,
        "idempotency_key": req.idempotency_key,
        "contract_id": cp.contract_id,
        "partner_id": cp.policy.partner_id,
        "status": guarded.status,
        "route": decision.route,
        "offer_id": decision.offer_id if shown else None,
        "points": decision.points if shown else 0,
        "cost": decision.cost if shown else 0.0,
        "expected_value": decision.expected_value,
        "period": decision.period,
        "reservation_id": reservation.id if granted and reservation is not None else None,
        "review_id": guarded.review_id,
        "reasons": reasons,
        "factors": {k: [t for *_, t in rows[0]] for k, rows in fx.items()},
        "scores": {
            "churn": scores.churn,
            "risk": scores.risk,
            "propensity": dict(scores.propensity),
        },
        "versions": {
            "policy": cp.version,
            "models": models.versions(),
            "shadow_models": models.shadow_versions(),
            "models_source": models.source,
            "feature_contract": core.features.contract.version if core.features else None,
            "feature_snapshot": core.features.as_of.isoformat() if core.features else None,
        },
        "decided_at": now.isoformat(),
        "replayed": False,
        "state": None,
    }


def _reason(r) -> dict:
    return {
        "code": r.code,
        "clause": r.clause,
        "text": r.text,
        "policy_version": r.policy_version,
        "offer_id": r.offer_id,
    }


def decision_record(req, response, payload_digest, caller, scores, shadow, consent=()):
    """The audit record of a decision: versions, input digest, scores (incl. ``shadow_*``),
    reason codes, the consent it rests on (each scope and its source) and the response."""
    numbers = {k: v for k, v in (("churn", scores.churn), ("risk", scores.risk)) if v is not None}
    if response["offer_id"]:
        numbers["propensity"] = scores.propensity[response["offer_id"]]
    for kind in ("churn", "risk"):
        if kind in shadow:
            numbers[f"shadow_{kind}"] = shadow[kind][0]
    return AuditRecord(
        decision_id=response["decision_id"],
        outcome=response["status"],
        idempotency_key=req.idempotency_key,
        caller=caller,
        contract_id=response["contract_id"],
        policy_version=response["versions"]["policy"],
        model_versions=response["versions"]["models"],
        feature_contract_version=str(response["versions"]["feature_contract"]),
        input_digest=payload_digest,
        customer_id=req.customer_id,
        scores=numbers,
        reasons=[r["code"] for r in response["reasons"]],
        reservation_ids=[response["reservation_id"]] if response["reservation_id"] else [],
        details={
            "response": response,
            "shadow": shadow,
            "shadow_models": response["versions"]["shadow_models"],
            "consent": list(consent),
        },
    )


def record_decision(
    core, req, response, payload_digest, caller, scores, shadow, consent=()
) -> dict | None:
    """Record the decision once per idempotency key (guardrails' decision log): None when this
    call recorded it; otherwise the audit body of the decision recorded first for the key."""
    record = decision_record(req, response, payload_digest, caller, scores, shadow, consent)
    return DecisionLog(core.stores.audit).record(record, core.clock())
