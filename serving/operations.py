"""What each endpoint does, over a DecisionCore: validate -> features -> score -> guardrails ->
ledger -> audit -> respond. Rules live in guardrails/; this is composition and I/O only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time

from guardrails.audit import DecisionLog
from guardrails.errors import ConflictError, InvalidInputError, NotFoundError
from serving.core import DecisionCore
from serving.decide import Rows, factors, predict, scores_for
from serving.records import build_response, record_decision
from serving.schemas import DecideRequest, ScoreRequest

REVIEW_TTL_S = 86_400.0
HOLD_TTL_S = 900.0


def digest(payload: dict) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def decision_id_for(key: str) -> str:
    """Deterministic: a retried key finds its decision without any extra index."""
    return "d-" + hashlib.sha256(f"decision:{key}".encode()).hexdigest()[:24]


def score(core: DecisionCore, req: ScoreRequest) -> dict:
    """Champion scores for a batch of customers (reason codes only when asked)."""
    offers = []
    if req.contract_id is not None:
        cp = core.policies.get(req.contract_id)
        if cp is None:
            raise NotFoundError(f"unknown contract {req.contract_id!r}")
        offers = [co.offer for co in cp.offers]
    ids = [c.customer_id for c in req.customers]
    rows = Rows(core.customer_rows(ids, [c.features for c in req.customers]), offers)
    models = core.models
    scored = predict(models, rows)
    fx = factors(models, rows) if req.explain else {}
    results = []
    for i, cid in enumerate(ids):
        s = scores_for(i, scored, offers, {})
        reasons = None
        if req.explain:
            reasons = {
                k: [
                    {"feature": f, "value": v, "contribution": c, "text": t}
                    for f, v, c, t in rows[i]
                ]
                for k, rows in fx.items()
            }
        results.append(
            {
                "customer_id": cid,
                "churn": s.churn,
                "risk": s.risk,
                "propensity": dict(s.propensity),
                "reasons": reasons,
            }
        )
    snapshot = core.features.as_of.isoformat() if core.features else None
    return {
        "results": results,
        "model_versions": models.versions(),
        "feature_snapshot": snapshot,
        "shadow": models.shadow_versions(),
    }


def prior_decision(core: DecisionCore, decision_id: str) -> dict | None:
    """The stored decision record (its audit body), or None."""
    return DecisionLog(core.stores.audit).find(decision_id)


def decide(core: DecisionCore, req: DecideRequest, caller: str | None = None) -> dict:
    started = time.perf_counter()
    cp = core.policies.get(req.contract_id)
    if cp is None:
        raise NotFoundError(f"unknown contract {req.contract_id!r}: no active policy")
    now = _decision_time(core, req)
    payload_digest = digest(req.model_dump(mode="json"))
    decision_id = decision_id_for(req.idempotency_key)
    prior = prior_decision(core, decision_id)
    if prior is not None:
        return _replay(prior, payload_digest, req.idempotency_key)
    row = core.customer_rows([req.customer_id], [req.features])[0]
    st = core.state.customer(req.customer_id, now)
    row.update(st.consent)  # fresh consent beats the snapshot
    models = core.models
    offers = [co.offer for co in cp.offers]
    rows = Rows([row], offers)  # each model's matrix is built once, shadow models included
    scored, fx = predict(models, rows), factors(models, rows)
    scores = scores_for(0, scored, offers, fx)
    own = core.stores.ledger.find(req.idempotency_key)  # left by an attempt that never answered
    decision, reservation, review = _guardrails(
        core, cp, req, row, st, scores, now, decision_id, payload_digest, own
    )
    # the challengers read the matrices built above: shadow scoring costs only their trees
    shadow = predict(models, rows, shadow=True) if models.challengers else {}
    response = build_response(
        core, req, cp, decision, reservation, review, scores, fx, models, now, decision_id, shadow
    )
    first = record_decision(core, req, response, payload_digest, caller, scores, shadow)
    if first is not None:  # another worker recorded this key first: its answer stands
        _drop_unrecorded_hold(core, first, reservation, review)
        return _replay(first, payload_digest, req.idempotency_key)
    reason = response["reasons"][0]["code"] if response["reasons"] else "none"
    core.metrics.decision(
        response["status"],
        reason,
        cp.contract_id,
        response["points"] if response["reservation_id"] else 0,
    )
    core.metrics.latency.labels("decide").observe(time.perf_counter() - started)
    return response


def _drop_unrecorded_hold(core, first: dict, reservation, review) -> None:
    """This copy of a raced request took the key's hold, but the answer recorded first names
    none (it decided without an offer, e.g. because this hold used the budget): give the hold
    back now instead of leaving it held, by no decision, until its TTL."""
    import logging

    from guardrails.ledger import LedgerError
    from guardrails.review import ReviewError

    if reservation is None or not reservation.ok:
        return
    if first["details"]["response"].get("reservation_id") == reservation.id:
        return
    why = "the decision recorded for this key reserved nothing"
    try:
        if review is not None:
            core.stores.reviews.reject(review.id, "service", note=why)
        else:
            core.stores.ledger.release(reservation.id, why)
    except (LedgerError, ReviewError) as exc:  # settled already, or the ledger is away: the
        # hold then goes back when its TTL passes (``loyalty ledger expire``)
        logging.getLogger("loyalty.serving").warning("hold %s kept: %s", reservation.id, exc)


def _replay(prior: dict, payload_digest: str, key: str) -> dict:
    if prior.get("input_digest") != payload_digest:
        raise ConflictError(f"idempotency key {key!r} was used with a different request")
    return {**prior["details"]["response"], "replayed": True}


def _decision_time(core: DecisionCore, req: DecideRequest) -> dt.datetime:
    """The request's time in UTC (default now), refused when out of the range the contact
    windows and budget periods can compute with (docs/service.md)."""
    from serving.inputs import as_utc, time_problem

    if req.time is None:
        return dt.datetime.fromtimestamp(core.clock(), dt.UTC)
    problem = time_problem("time", req.time)
    if problem is not None:
        raise InvalidInputError("the decision time is out of range", [problem])
    return as_utc(req.time)


def _guardrails(core, cp, req, features, st, scores, now, decision_id, payload_digest, own):
    """Contact state and budget left -> arbitration -> atomic reservation -> review.

    ``own``: the key's reservation when an earlier attempt reserved and then failed before its
    answer was recorded (a crash, an outage). Deciding again counts that hold as free budget, so
    the decision comes out as the first attempt's did and the ledger hands back the same hold,
    instead of the hold blocking its own offer."""
    from guardrails.decision import Consent, ContactState, Request
    from guardrails.ledger import IdempotencyConflictError
    from guardrails.periods import period_key

    period = period_key(now, cp.policy.budget.period)
    grants: dict[str, int] = {}
    for offer_id, at in st.sends:
        if period_key(at, cp.policy.budget.period) == period:
            grants[offer_id] = grants.get(offer_id, 0) + 1
    consent = Consent.from_features(features, cp.policy.consent.data_sharing_partners)
    state = ContactState(st.contacts, st.declines, grants, consent)
    pseudo = core.stores.pseudonymizer.customer(req.customer_id)
    request = Request(now, req.channel, req.partner_id, req.event)
    remaining = _remaining(core, cp, pseudo, period, own)
    decision = cp.decide(features, request, state, scores, remaining=remaining)
    if decision.offer_id is None or decision.route == "reject":
        return decision, None, None
    lines = _lines(cp, pseudo, decision.offer_id, decision.period, decision.points)
    try:
        reservation = core.stores.ledger.reserve(
            req.idempotency_key, decision_id, payload_digest, lines, ttl_s=HOLD_TTL_S
        )
    except IdempotencyConflictError as exc:  # a concurrent request with the key, other payload
        raise ConflictError(f"idempotency key {req.idempotency_key!r}: {exc}") from exc
    review = None
    if reservation.ok and decision.route == "review":
        summary = {
            "customer": pseudo,
            "offer_id": decision.offer_id,
            "points": decision.points,
            "risk": scores.risk,
            "contract_id": cp.contract_id,
        }
        review = core.stores.reviews.submit(
            decision_id,
            reservation.id,
            ttl_s=REVIEW_TTL_S,
            reason=f"risk {scores.risk:.2f}",
            summary=summary,
        )
    return decision, reservation, review


def _limits(cp, offer_id: str):
    from guardrails.ledger import ScopeLimits

    b = cp.policy.budget
    offer = next(co.offer for co in cp.offers if co.offer.offer_id == offer_id)
    return ScopeLimits(
        contract=b.points_per_period,
        customer=b.customer_points_per_period,
        offer=offer.points_per_period,
        contract_lifetime=b.total_points,
    )


def _lines(cp, pseudo: str, offer_id: str, period: str, amount: int):
    from guardrails.ledger import decision_lines

    return decision_lines(
        contract_id=cp.contract_id,
        partner_id=cp.policy.partner_id,
        customer_key=pseudo,
        offer_id=offer_id,
        period=period,
        amount=amount,
        limits=_limits(cp, offer_id),
    )


def _remaining(core, cp, pseudo: str, period: str, own=None):
    """Points left per scope, in one ledger read (arbitration decides; the ledger enforces).

    The contract, partner and customer lines are the same for every offer: they are built once,
    and only each offer's own scope per offer."""
    from guardrails.decision import Remaining
    from guardrails.ledger.model import Line, Scope, ScopeKind

    first = _lines(cp, pseudo, cp.offers[0].offer.offer_id, period, 0)
    offer_lines = [
        Line(Scope(ScopeKind.OFFER, co.offer.offer_id, period), 0, co.offer.points_per_period)
        for co in cp.offers
    ]
    ids = sorted({ln.scope.id for ln in (*first, *offer_lines)})
    balances = core.stores.ledger.balances_of(ids)

    held_by_key = _held_amounts(own)

    def left(line) -> int | None:
        if line.limit is None:
            return None
        b = balances.get(line.scope.id)
        used = b.reserved + b.committed if b else 0
        return line.limit - used + held_by_key.get(line.scope.id, 0)

    contract = min(
        (v for v in (left(first[0]), *(left(x) for x in first[4:])) if v is not None), default=None
    )
    offers = {ln.scope.key: v for ln in offer_lines if (v := left(ln)) is not None}
    return Remaining(contract=contract, customer=left(first[2]), offers=offers)


def _held_amounts(own) -> dict[str, int]:
    """Per scope, what the key's own still-held reservation takes (nothing when there is none)."""
    from guardrails.ledger.model import Status

    if own is None or own.status is not Status.HELD:
        return {}
    return {ln.scope.id: ln.amount for ln in own.lines}
