"""Consent before data, as a property: over random consent histories (the snapshot's flags,
flags sent with the request, consent events received since), a customer whose consent does not
allow the use of their data has no feature read, is not scored, and no score, factor or feature
value is answered or stored, on ``/score`` and ``/decide``; a customer whose consent allows it is
scored as before. The expectation is computed here from the history alone."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving.schemas import DecideRequest, ScoreRequest
from tests.service_support import LookupSpy, build_home, env

SCOPES = ("marketing", "data_sharing")
FLAG = st.sampled_from([0, 1])
EVENT = st.tuples(st.sampled_from(SCOPES), st.booleans())
HISTORY = st.fixed_dictionaries(
    {
        "sent": st.dictionaries(st.sampled_from([f"consent_{s}" for s in SCOPES]), FLAG),
        "events": st.lists(EVENT, max_size=4),
    }
)


@pytest.fixture(scope="module")
def world(trained_home, sim_dir, tmp_path_factory):
    from serving.core import DecisionCore

    values = build_home(trained_home, sim_dir, tmp_path_factory.mktemp("consent") / "home")
    with env(values):
        core = DecisionCore()
        keys = sorted(core.features.consent([str(n) for n in range(1, 3000)]))
        customers = iter(k for k in keys if core.features.consent([k])[k]["partner_id"] == "P01")
        yield core, customers
        core.close()


EVENT_IDS = itertools.count()


def _apply_history(core, customer: str, history: dict) -> dict:
    """Post the history's consent events (oldest first, before now) and return the flags the
    service should act on: the snapshot's, then the sent ones, then the latest event per scope."""
    now = dt.datetime.fromtimestamp(core.clock(), dt.UTC)
    flags = dict(core.features.consent([customer])[customer])
    flags.update(history["sent"])
    events = []
    for n, (scope, granted) in enumerate(history["events"]):
        at = now - dt.timedelta(minutes=60 - n)
        events.append({
            "event_id": f"consent-prop-{next(EVENT_IDS)}", "event_type": "consent_changed",
            "occurred_at": at.isoformat(), "customer_id": customer, "partner_id": "P01",
            "channel": "web", "consent_scope": scope, "consent_granted": granted,
        })  # fmt: skip
        flags[f"consent_{scope}"] = int(granted)
    if events:
        core.state.apply(events)
    return flags


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=HISTORY)
def test_score_reads_and_returns_nothing_without_data_use_consent(world, history) -> None:
    from serving import operations

    core, customers = world
    customer = next(customers)
    flags = _apply_history(core, customer, history)
    allowed = flags["consent_data_sharing"] != 0  # own partner: unless sharing withdrawn
    sent = [{"customer_id": customer, "features": history["sent"] or None}]
    with LookupSpy(core.features) as spy:
        (result,) = operations.score(core, ScoreRequest(customers=sent, explain=True))["results"]
    assert (customer in spy.ids) is allowed
    if allowed:
        assert result["churn"] is not None and result["reasons"] and result["consent"] is None
    else:
        assert (result["churn"], result["risk"], result["propensity"], result["reasons"]) == (
            None, None, {}, None)  # fmt: skip
        assert result["consent"].startswith("Not scored: the customer has not consented")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=HISTORY)
def test_decide_reads_and_stores_nothing_without_consent(world, history) -> None:
    from serving import operations

    core, customers = world
    customer = next(customers)
    flags = _apply_history(core, customer, history)
    # the contract C-P01 (partner P01, marketing consent required): data use and marketing
    allowed = flags["consent_data_sharing"] != 0 and flags["consent_marketing"] == 1
    req = DecideRequest(
        idempotency_key=f"consent-prop-{customer}", customer_id=customer, contract_id="C-P01",
        channel="app", features=history["sent"] or None,
    )  # fmt: skip
    with LookupSpy(core.features) as spy:
        d = operations.decide(core, req)
    assert (customer in spy.ids) is allowed
    record = operations.prior_decision(core, d["decision_id"])
    assert len(record["details"]["consent"]) == 2  # the basis of every decision
    if allowed:
        assert d["scores"]["churn"] is not None
        return
    assert d["status"] == "no_offer" and d["factors"] == {}
    assert d["scores"] == {"churn": None, "risk": None, "propensity": {}}
    assert record["scores"] == {} and record["details"]["shadow"] == {}
    codes = {r["code"] for r in d["reasons"]}
    assert codes & {"consent_data_use", "consent_marketing"} and "not_scored" in codes
