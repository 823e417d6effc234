"""Later actions on a decision (lookup, commit, cancel), the event intake and the review queue."""

from __future__ import annotations

from typing import Any

from features.errors import ConflictError, InvalidInputError, NotFoundError
from guardrails.audit import AuditRecord
from guardrails.review import ReviewSettledError
from serving.auth import Principal
from serving.core import DecisionCore
from serving.inputs import check_events
from serving.operations import prior_decision
from serving.schemas import ReviewAction

UNAUTHENTICATED = "unauthenticated"


def _visible(core: DecisionCore, decision_id: str, who: Principal | None) -> dict:
    """The stored decision; a partner token sees only its own contracts' (else 404, no leak)."""
    record = prior_decision(core, decision_id)
    if record is None:
        raise NotFoundError(f"unknown decision {decision_id!r}")
    response = record["details"]["response"]
    partner_only = who is not None and not who.scopes & {"orchestrator", "operator"}
    if who is not None and partner_only and response["partner_id"] != who.partner:
        raise NotFoundError(f"unknown decision {decision_id!r}")
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
    """The reward was delivered: make the hold final (a released hold: ConflictError)."""
    response = _visible(core, decision_id, who)
    if not response["reservation_id"]:
        raise ConflictError(f"decision {decision_id} reserved nothing: nothing to commit")
    if _pending_review(core, response) is not None:
        raise ConflictError(f"decision {decision_id} waits for review: approve it first")
    r = core.stores.ledger.commit(response["reservation_id"])
    _trail(core, response, "commit", str(r.status), who)
    return {**response, "state": str(r.status)}


def cancel(core: DecisionCore, decision_id: str, reason: str | None, who=None) -> dict:
    """Release a hold or reverse a commit; a pending review is rejected with it. A review that
    a reviewer resolves between the read and the reject is a ReviewSettledError (409)."""
    response = _visible(core, decision_id, who)
    why = reason or "cancelled by the orchestrator"
    state = "nothing reserved"
    review = _pending_review(core, response)
    if review is not None:
        try:
            core.stores.reviews.reject(review.id, caller_name(who), note=why)
        except ReviewSettledError as exc:  # a reviewer resolved it since it was read
            raise ReviewSettledError(
                f"decision {decision_id}: {exc} (resolved while cancelling); nothing was "
                "cancelled: look the decision up and cancel again if it should still go"
            ) from exc
    if response["reservation_id"]:
        state = str(core.stores.ledger.cancel(response["reservation_id"], why).status)
    _trail(core, response, "cancel", state, who, why)
    return {**response, "state": state}


def _trail(core, response: dict, event: str, outcome: str, who, note: str | None = None) -> None:
    core.stores.audit.append(
        AuditRecord(
            decision_id=response["decision_id"],
            outcome=outcome,
            event=event,
            caller=caller_name(who),
            contract_id=response["contract_id"],
            reservation_ids=[response["reservation_id"]] if response["reservation_id"] else [],
            details={"note": note} if note else {},
        )
    )


def intake(core: DecisionCore, events: list[dict]) -> dict:
    """Store the events (idempotent by event id) once every one passes the schema's rules;
    a refused batch stores nothing."""
    problems = check_events(events)
    if problems:
        raise InvalidInputError("events break the event schema; none was stored", problems)
    accepted, duplicates = core.state.apply(events)
    core.metrics.intake(events, core.clock(), core.known_partners())
    return {"accepted": accepted, "duplicates": duplicates}


def review_list(core: DecisionCore, status: str | None = "pending") -> list[dict[str, Any]]:
    return [_review(r) for r in core.stores.reviews.list(status or None)]


def review_resolve(
    core: DecisionCore, review_id: str, approve: bool, who: Principal | None, body: ReviewAction
) -> dict:
    """Approve (commit the hold) or reject (release it) as the calling token (its label is the
    reviewer of record); errors carry their outcome type."""
    fn = core.stores.reviews.approve if approve else core.stores.reviews.reject
    return _review(fn(review_id, caller_name(who), note=review_note(body)))


def caller_name(who: Principal | None) -> str:
    """The identity an action is recorded under: the token's label (a service without tokens
    configured, only ever in-process, records ``unauthenticated``)."""
    return who.name if who is not None else UNAUTHENTICATED


def review_note(body: ReviewAction) -> str | None:
    """The body's note, plus the name an older client put in ``by`` (kept, not trusted)."""
    if not body.by:
        return body.note
    claimed = f"request named: {body.by}"
    return f"{body.note} ({claimed})" if body.note else claimed


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
