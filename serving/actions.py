"""Later actions on a decision (lookup, commit, cancel), the event intake and the review queue."""

from __future__ import annotations

from typing import Any

from serving.auth import Principal
from serving.core import DecisionCore, ServiceError
from serving.operations import prior_decision


def _visible(core: DecisionCore, decision_id: str, who: Principal | None) -> dict:
    """The stored decision; a partner token sees only its own contracts' (else 404, no leak)."""
    record = prior_decision(core, decision_id)
    if record is None:
        raise ServiceError(404, f"unknown decision {decision_id!r}")
    response = record["details"]["response"]
    partner_only = who is not None and not who.scopes & {"orchestrator", "operator"}
    if partner_only and response["partner_id"] != who.partner:
        raise ServiceError(404, f"unknown decision {decision_id!r}")
    return response


def get_decision(core: DecisionCore, decision_id: str, who: Principal | None = None) -> dict:
    response = dict(_visible(core, decision_id, who))
    if response["reservation_id"]:
        response["state"] = str(core.stores.ledger.get(response["reservation_id"]).status)
    return response


def _pending_review(core: DecisionCore, response: dict):
    if not response.get("review_id"):
        return None
    review = core.stores.reviews.get(response["review_id"])
    return review if review.status == "pending" else None


def commit(core: DecisionCore, decision_id: str, who: Principal | None = None) -> dict:
    """The reward was delivered: make the hold final."""
    from guardrails.ledger import InvalidTransitionError

    response = _visible(core, decision_id, who)
    if not response["reservation_id"]:
        raise ServiceError(409, f"decision {decision_id} reserved nothing: nothing to commit")
    if _pending_review(core, response) is not None:
        raise ServiceError(409, f"decision {decision_id} waits for review: approve it first")
    try:
        r = core.stores.ledger.commit(response["reservation_id"])
    except InvalidTransitionError as exc:
        raise ServiceError(409, str(exc)) from exc
    _trail(core, response, "commit", str(r.status), who)
    return {**response, "state": str(r.status)}


def cancel(core: DecisionCore, decision_id: str, reason: str | None, who=None) -> dict:
    """Release a hold or reverse a commit; a pending review is rejected with it."""
    response = _visible(core, decision_id, who)
    why = reason or "cancelled by the orchestrator"
    state = "nothing reserved"
    review = _pending_review(core, response)
    if review is not None:
        core.stores.reviews.reject(review.id, who.name if who else "service", note=why)
    if response["reservation_id"]:
        state = str(core.stores.ledger.cancel(response["reservation_id"], why).status)
    _trail(core, response, "cancel", state, who, why)
    return {**response, "state": state}


def _trail(core, response: dict, event: str, outcome: str, who, note: str | None = None) -> None:
    from guardrails.audit import AuditRecord

    core.stores.audit.append(
        AuditRecord(
            decision_id=response["decision_id"],
            outcome=outcome,
            event=event,
            caller=who.name if who else None,
            contract_id=response["contract_id"],
            reservation_ids=[response["reservation_id"]] if response["reservation_id"] else [],
            details={"note": note} if note else {},
        )
    )


def intake(core: DecisionCore, events: list[dict]) -> dict:
    accepted, duplicates = core.state.apply(events)
    return {"accepted": accepted, "duplicates": duplicates}


def review_list(core: DecisionCore, status: str | None = "pending") -> list[dict[str, Any]]:
    return [_review(r) for r in core.stores.reviews.list(status or None)]


def review_resolve(core, review_id: str, approve: bool, by: str, note: str | None) -> dict:
    from guardrails.review import ReviewError, ReviewExpiredError

    try:
        fn = core.stores.reviews.approve if approve else core.stores.reviews.reject
        return _review(fn(review_id, by, note=note))
    except ReviewExpiredError as exc:
        raise ServiceError(409, str(exc)) from exc
    except ReviewError as exc:
        raise ServiceError(404 if "no review" in str(exc) else 409, str(exc)) from exc


def _review(r) -> dict[str, Any]:
    return {
        "review_id": r.id,
        "decision_id": r.decision_id,
        "reservation_id": r.reservation_id,
        "status": r.status,
        "reason": r.reason,
        "summary": dict(r.summary),
        "created_at": r.created_at,
        "expires_at": r.expires_at,
        "resolved_by": r.resolved_by,
    }
