"""What each endpoint does, over a DecisionCore: validate -> features -> score -> one call into
guardrails (guardrails.engine.guard) -> record (guardrails' decision log) -> respond. Rules live
in guardrails/; this is composition and I/O only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time

from features.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from guardrails.audit import DecisionLog
from guardrails.decision import WITHHELD, Consent, Request
from guardrails.engine import HOLD_TTL_S as HOLD_TTL_S  # re-exported: the service's hold TTLs
from guardrails.engine import REVIEW_TTL_S as REVIEW_TTL_S
from guardrails.engine import (
    BackfillBudget,
    CountedReviews,
    DecisionContext,
    GuardedDecision,
    History,
    LedgerBudget,
    QueueReviews,
    check_current_period,
    consent_of,
    data_withheld,
    guard,
)
from guardrails.ledger import LedgerError
from guardrails.policy.rules import data_use_blockers
from guardrails.review import ReviewError
from serving.core import DecisionCore
from serving.decide import Rows, factors, predict, scores_for
from serving.inputs import as_utc, time_problem
from serving.records import build_response, record_decision
from serving.schemas import DecideRequest, ScoreRequest


def digest(payload: dict) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def decision_id_for(key: str) -> str:
    """Deterministic: a retried key finds its decision without any extra index."""
    return "d-" + hashlib.sha256(f"decision:{key}".encode()).hexdigest()[:24]


def score(core: DecisionCore, req: ScoreRequest) -> dict:
    """Champion scores for a batch of customers (reason codes only when asked). A customer whose
    consent does not allow the use of their data is not scored: their consent record is read,
    nothing else; their scores are null with the consent reason."""
    cp = None
    if req.contract_id is not None:
        cp = core.policies.get(req.contract_id)
        if cp is None:
            raise NotFoundError(f"unknown contract {req.contract_id!r}")
    offers = [co.offer for co in cp.offers] if cp is not None else []
    ids = [c.customer_id for c in req.customers]
    sent = [c.features for c in req.customers]
    refused = _score_refusals(core, cp, ids, sent)
    allowed = [i for i in range(len(ids)) if i not in refused]
    results: list[dict] = [
        {"customer_id": cid, "churn": None, "risk": None, "propensity": {}, "reasons": None,
         "consent": refused.get(i)}
        for i, cid in enumerate(ids)
    ]  # fmt: skip
    models = core.models
    if allowed:
        rows = Rows(core.customer_rows([ids[i] for i in allowed], [sent[i] for i in allowed]),
                    offers)  # fmt: skip
        scored = predict(models, rows)
        fx = factors(models, rows) if req.explain else {}
        for n, i in enumerate(allowed):
            s = scores_for(n, scored, offers, {})
            results[i] = {"customer_id": ids[i], "churn": s.churn, "risk": s.risk,
                          "propensity": dict(s.propensity), "reasons": _factors(fx, n),
                          "consent": None}  # fmt: skip
    snapshot = core.features.as_of.isoformat() if core.features else None
    return {
        "results": results,
        "model_versions": models.versions(),
        "feature_snapshot": snapshot,
        "shadow": models.shadow_versions(),
    }


def _factors(fx: dict, n: int) -> dict | None:
    if not fx:
        return None
    return {
        kind: [{"feature": f, "value": v, "contribution": c, "text": t} for f, v, c, t in rows[n]]
        for kind, rows in fx.items()
    }


def _score_refusals(core: DecisionCore, cp, ids: list[str], sent: list) -> dict[int, str]:
    """Index -> why that customer may not be scored, from consent records and consent events
    alone: the contract's partner under its terms, or (no contract) the customer's own
    partner, unless the customer withdrew data-sharing consent."""
    now = dt.datetime.fromtimestamp(core.clock(), dt.UTC)
    records = core.consent_records(ids, sent)
    events = core.state.consents(ids, now)
    refused = {}
    for i, (cid, record) in enumerate(zip(ids, records, strict=True)):
        st = events.get(cid)
        if st is not None:
            record.update(st.consent)
        sources = sources_of(core, sent[i], st)
        if cp is not None:
            consent = consent_of(cp, record, sources)
            blockers = data_use_blockers(cp, cp.policy.partner_id, consent)
            if blockers:
                words = " ".join(b.text.replace("; no offer.", ".") for b in blockers)
                refused[i] = f"Not scored: {words[0].lower()}{words[1:]}"
            continue
        consent = Consent.from_features(record, (), sources)
        home = record.get("partner_id")
        if home is None or str(home) not in consent.data_partners:
            refused[i] = (
                f"Not scored: the customer has not consented to their own partner ({home}) "
                f"using their data. On record: {'; '.join(consent.basis)}."
            )
    return refused


def prior_decision(core: DecisionCore, decision_id: str) -> dict | None:
    """The stored decision record (its audit body), or None."""
    return DecisionLog(core.stores.audit).find(decision_id)


def decide(
    core: DecisionCore,
    req: DecideRequest,
    caller: str | None = None,
    scopes: frozenset[str] | None = None,
) -> dict:
    """One decision; ``scopes`` are the caller's token scopes (None: no authentication)."""
    started = time.perf_counter()
    _check_mode(req.mode, scopes)
    cp = core.policies.get(req.contract_id)
    if cp is None:
        raise NotFoundError(f"unknown contract {req.contract_id!r}: no active policy")
    now = _decision_time(core, req)
    payload_digest = digest(req.model_dump(mode="json"))
    decision_id = decision_id_for(req.idempotency_key)
    prior = prior_decision(core, decision_id)
    if prior is not None:
        return _replay(prior, payload_digest, req.idempotency_key)
    backfill = req.mode == "backfill"
    if not backfill:  # a retry above replays whatever its period; a new decision must be current
        clock_now = dt.datetime.fromtimestamp(core.clock(), dt.UTC)
        check_current_period(cp, now, clock_now, core.settings.clock_skew_s)
    st = core.state.customer(req.customer_id, now)
    sources = consent_sources(core, req, st)
    # consent first, from the consent record alone: no feature is read and no model runs for a
    # customer whose data the contract's partner may not use (or who may get no offer)
    record = core.consent_records([req.customer_id], [req.features])[0]
    record.update(st.consent)  # fresh consent beats the snapshot
    consent = consent_of(cp, record, sources)
    models = core.models
    rows: Rows | None = None
    if data_withheld(cp, req.partner_id or cp.policy.partner_id, consent):
        row, scores, fx = record, WITHHELD, {}
    else:
        row = core.customer_rows([req.customer_id], [req.features])[0]
        row.update(st.consent)
        rows = Rows([row], [co.offer for co in cp.offers])  # each matrix built once
        scored, fx = predict(models, rows), factors(models, rows)
        scores = scores_for(0, scored, rows.offers, fx)
    pseudonymizer = core.stores.pseudonymizer
    if pseudonymizer is None:  # the service's stores always have one
        raise RuntimeError("a decision needs the pseudonymizer: raw customer ids are never stored")
    context = DecisionContext(
        policy=cp,
        customer_key=pseudonymizer.customer(req.customer_id),
        features=row,
        request=Request(now, req.channel, req.partner_id, req.event),
        history=History(st.contacts, st.declines, st.sends, sources),
        scores=scores,
        idempotency_key=req.idempotency_key,
        decision_id=decision_id,
        input_digest=payload_digest,
        paused=core.controls.paused(cp.contract_id),
    )
    if backfill:
        guarded = guard(context, BackfillBudget(core.stores.ledger), CountedReviews())
    else:
        budget = LedgerBudget(core.stores.ledger, req.idempotency_key)
        guarded = guard(context, budget, QueueReviews(core.stores.reviews))
    # the challengers read the matrices built above: shadow scoring costs only their trees
    shadow = predict(models, rows, shadow=True) if models.challengers and rows else {}
    response = build_response(core, req, cp, guarded, scores, fx, models, now, decision_id, shadow)
    first = record_decision(
        core, req, response, payload_digest, caller, scores, shadow, consent.basis
    )
    if first is not None:  # another worker recorded this key first: its answer stands
        _drop_unrecorded_hold(core, first, guarded)
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


def consent_sources(core: DecisionCore, req: DecideRequest, st) -> dict[str, str]:
    """Where each consent feature of the decision came from: the latest consent event (its
    time), the request's features, or the feature snapshot (its time): the consent reasons
    cite it."""
    return sources_of(core, req.features, st)


def sources_of(core: DecisionCore, sent: dict | None, st) -> dict[str, str]:
    snapshot = (
        f"the feature snapshot of {core.features.as_of.date().isoformat()}"
        if core.features is not None
        else "the feature snapshot"
    )
    at_of = st.consent_at if st is not None else {}
    sources = {}
    for name in ("consent_marketing", "consent_data_sharing"):
        if name in at_of:
            at = at_of[name].isoformat().replace("+00:00", "Z")
            sources[name] = f"consent_changed event of {at}"
        else:
            sources[name] = "sent with the request" if name in (sent or {}) else snapshot
    return sources


def _check_mode(mode: str, scopes: frozenset[str] | None) -> None:
    """A backfill (it decides without reserving, for any time) needs the operator scope on top
    of the orchestrator's, which the route already asked for."""
    if scopes is not None and mode == "backfill" and "operator" not in scopes:
        raise ForbiddenError("a backfill decision needs a token with the operator scope too")


def _drop_unrecorded_hold(core, first: dict, guarded: GuardedDecision) -> None:
    """This copy of a raced request took the key's hold, but the answer recorded first names
    none (it decided without an offer, e.g. because this hold used the budget): give the hold
    back now instead of leaving it held, by no decision, until its TTL."""
    hold = guarded.hold
    if hold is None or not hold.ok:
        return
    if first["details"]["response"].get("reservation_id") == hold.id:
        return
    why = "the decision recorded for this key reserved nothing"
    try:
        if guarded.review_id is not None:
            core.stores.reviews.reject(guarded.review_id, "service", note=why)
        else:
            core.stores.ledger.release(hold.id, why)
    except (LedgerError, ReviewError) as exc:  # settled already, or the ledger is away: the
        # hold then goes back when its TTL passes (``loyalty ledger expire``)
        logging.getLogger("loyalty.serving").warning("hold %s kept: %s", hold.id, exc)


def _replay(prior: dict, payload_digest: str, key: str) -> dict:
    if prior.get("input_digest") != payload_digest:
        raise ConflictError(f"idempotency key {key!r} was used with a different request")
    return {**prior["details"]["response"], "replayed": True}


def _decision_time(core: DecisionCore, req: DecideRequest) -> dt.datetime:
    """The request's time in UTC (default now), refused when out of the range the contact
    windows and budget periods can compute with (docs/service.md)."""
    if req.time is None:
        return dt.datetime.fromtimestamp(core.clock(), dt.UTC)
    problem = time_problem("time", req.time)
    if problem is not None:
        raise InvalidInputError("the decision time is out of range", [problem])
    return as_utc(req.time)
