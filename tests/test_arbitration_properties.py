"""Properties of arbitration over random policies and customers: the chosen offer is always
eligible, under its cap, outside contact limits and suppression, within budget, the best by
expected value, and there is never an offer when consent forbids the use of the data."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from guardrails.arbitration import decide
from guardrails.decision import Consent, ContactState, Remaining, Request, Scores
from guardrails.policy import Policy, compile_policy

NOW = dt.datetime(2025, 6, 15, 12, tzinfo=dt.UTC)
_home = st.sampled_from([frozenset({"P1"})] * 4 + [frozenset()])
CHANNELS = ("email", "sms", "app")
PARTNERS = ("P1", "P2", "P3")


@st.composite
def offers(draw, n: int) -> list[dict]:
    out = []
    for i in range(n):
        offer = {
            "offer_id": f"O{i}",
            "type": "t",
            "points_cost": draw(st.integers(100, 3000)),
            "value_to_program": 3000 - draw(st.floats(0, 3000)),
            "cap_per_customer_per_period": draw(st.integers(1, 3)),
            "channel": draw(st.sampled_from(CHANNELS)),
        }
        if draw(st.booleans()):
            offer["suitability"] = f"customer.activity_90d >= {draw(st.integers(0, 4))}"
        out.append(offer)
    return out


def _policy(draw, n: int) -> dict:
    return {
        "format_version": 1,
        "contract_id": "C",
        "partner_id": "P1",
        "valid_from": "2025-01-01",
        "valid_to": "2026-01-01",
        "budget": {
            "period": "quarter",
            "points_per_period": 5000,
            "cost_per_point": 0.01,
            "currency": "EUR",
        },
        "offers": draw(offers(n)),
        "eligibility": f"customer.tenure_days >= {draw(st.integers(0, 30))}",
        "contact_policy": {
            "max_contacts": {"count": draw(st.integers(1, 3)), "window_days": 30},
            "suppress_after_declines": {"declines": draw(st.integers(2, 3)), "days": 60},
        },
        "consent": {
            "require_marketing_consent": draw(st.booleans()),
            "data_sharing_partners": draw(st.lists(st.sampled_from(PARTNERS[1:]), unique=True)),
        },
        "risk_routing": {"approve_below": 0.3, "review_below": 0.7},
        "over_limit": draw(st.sampled_from(["reject", "grant_remaining"])),
        "arbitration": {"churn_weight": draw(st.floats(0, 1))},
    }


@st.composite
def cases(draw):
    n = draw(st.integers(1, 6))
    policy = _policy(draw, n)
    days = st.lists(st.integers(0, 120), max_size=3)
    state = ContactState(
        contacts={ch: [NOW - dt.timedelta(days=d) for d in draw(days)] for ch in CHANNELS},
        declines=[NOW - dt.timedelta(days=d) for d in draw(days)],
        grants={f"O{i}": draw(st.integers(0, 2)) for i in range(n)},
        consent=Consent(
            draw(st.sampled_from([True, True, True, False])),
            frozenset(draw(st.lists(st.sampled_from(PARTNERS)))) | draw(_home),
        ),
    )
    ids = [f"O{i}" for i in range(n)]
    scores = Scores(
        churn=1 - draw(st.floats(0, 1)),
        risk=draw(st.one_of(st.none(), st.floats(0, 1))),
        propensity={i: 1 - draw(st.floats(0, 1)) for i in ids if draw(st.integers(0, 9)) < 9},
    )
    remaining = draw(st.one_of(st.none(), st.builds(Remaining, contract=st.integers(-100, 5000))))
    features = {
        "tenure_days": float(90 - draw(st.integers(0, 90))),
        "activity_90d": 6 - draw(st.integers(0, 6)),
    }
    partner = draw(st.sampled_from(("P1", "P1", "P1", "P2", "P3")))
    return policy, features, Request(NOW, partner_id=partner), state, scores, remaining


def _within(times, days: int) -> int:
    return sum(1 for t in times if NOW - dt.timedelta(days=days) < t <= NOW)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_the_chosen_offer_breaks_no_rule(case) -> None:
    doc, features, request, state, scores, remaining = case
    cp = compile_policy(Policy.model_validate(doc))
    d = decide(cp, features, request, state, scores, remaining)
    policy = cp.policy
    partner = request.partner_id
    consent_ok = (
        partner in policy.data_partners
        and partner in state.consent.data_partners
        and (state.consent.marketing or not policy.consent.require_marketing_consent)
    )
    event("consent forbids" if not consent_ok else f"offer chosen: {d.offer_id is not None}")
    assert decide(cp, features, request, state, scores, remaining) == d  # deterministic
    if not consent_ok:
        assert d.offer_id is None and d.candidates == ()
        assert {"contract_data_sharing", "consent_data_use", "consent_marketing"} & set(d.codes())
        return
    if d.offer_id is None:
        return
    offer = policy.offer(d.offer_id)
    rules = policy.contact_policy
    assert d.route in ("approve", "review")
    assert features["tenure_days"] >= int(policy.eligibility.split(">= ")[1])
    if offer.suitability:
        assert features["activity_90d"] >= int(offer.suitability.split(">= ")[1])
    assert state.grants[offer.offer_id] < offer.cap_per_customer_per_period
    assert _within(state.contacts[str(offer.channel)], 30) < rules.max_contacts.count
    assert _within(state.declines, 60) < rules.suppress_after_declines.declines
    assert offer.offer_id in scores.propensity
    left = remaining.contract if remaining is not None else None
    if left is not None:
        assert 0 < d.points <= left
    if policy.over_limit == "reject" or left is None or left >= offer.points_cost:
        assert d.points == offer.points_cost
    valued = [c for c in d.candidates if c.expected_value is not None]
    assert d.expected_value > 0
    assert all(d.expected_value >= c.expected_value for c in valued)
