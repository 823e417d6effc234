"""Arbitration on tiny literal policies and feature rows: exact decisions and exact reasons."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from test_policy_helpers import CONSENTED, DROP, FEATURES, NOW, SCORES, compiled, request

from guardrails.arbitration import decide
from guardrails.decision import Consent, ContactState, Remaining, Scores
from guardrails.periods import period_key

DAY = dt.timedelta(days=1)


def _decide(cp=None, features=FEATURES, state=CONSENTED, scores=SCORES, **kw):
    cp = cp or compiled()
    return decide(cp, features, kw.pop("req", request()), state, scores, **kw)


def test_highest_expected_value_wins_with_the_arithmetic_spelled_out() -> None:
    cp = compiled()
    d = _decide(cp)
    assert (d.offer_id, d.points, d.cost, d.route, d.period) == (
        "A",
        1000,
        10.0,
        "approve",
        "2025Q1",
    )
    assert d.expected_value == pytest.approx(10.0)  # 0.4 x 100 x 0.5 - 1000 x 0.01
    assert d.codes() == ["chosen", "risk_route", "consent_basis"]
    chosen = d.reasons[0]
    assert (chosen.clause, chosen.offer_id, chosen.policy_version) == ("offers[0]", "A", cp.version)
    assert chosen.text == (
        "Offer A (voucher, 1000 points) has the highest expected value of 2 eligible offer(s): "
        "10.00 EUR = acceptance 0.40 x value 100.00 EUR x churn weight 0.50 (churn_weight 1) "
        "- cost 10.00 EUR."
    )
    assert d.reasons[1].clause == "risk_routing.approve_below"
    assert d.reasons[2].text == (
        "Partner P1 (the contract's own partner) may use this customer's data: "
        "the customer consented and has given marketing consent."
    )
    assert [(c.offer_id, c.expected_value, c.excluded_by) for c in d.candidates] == [
        ("A", pytest.approx(10.0), None),
        ("B", pytest.approx(5.0), None),
    ]


def test_ties_go_to_fewer_points_then_to_the_smaller_offer_id() -> None:
    # A: 0.3 x 100 x 0.5 - 10 = 5 and B: 0.5 x 40 x 0.5 - 5 = 5
    d = _decide(scores=Scores(0.5, 0.1, {"A": 0.3, "B": 0.5}))
    assert d.offer_id == "B"  # both 5.00; B costs 500 points, A 1000
    same = compiled(**{"offers.1": {**compiled().policy.offers[0].model_dump(), "offer_id": "0A"}})
    d = _decide(same, scores=Scores(0.5, 0.1, {"A": 0.4, "0A": 0.4}))
    assert d.offer_id == "0A"


def test_no_offer_when_nothing_has_positive_value() -> None:
    d = _decide(scores=Scores(0.1, 0.1, {"A": 0.1, "B": 0.1}))
    assert d.offer_id is None and d.points == 0 and d.expected_value is None
    assert d.reasons[0].code == "no_offer"
    assert d.reasons[0].text == (
        "No offer: none of the 2 eligible offer(s) has a positive expected value (best -4.60)."
    )


@pytest.mark.parametrize(
    ("consent", "partner", "codes"),
    [
        (Consent(False, frozenset({"P1"})), None, ["consent_marketing"]),
        (Consent(True, frozenset({"P1"})), "P2", ["consent_data_use"]),
        (Consent(True, frozenset({"P1", "P9"})), "P9", ["contract_data_sharing"]),
        (
            Consent(False, frozenset()),
            "P9",
            ["contract_data_sharing", "consent_data_use", "consent_marketing"],
        ),
    ],
)
def test_consent_forbids_any_offer_and_the_features_stay_unread(consent, partner, codes) -> None:
    # tenure 1 would fail eligibility: it is never evaluated when the data may not be used
    d = _decide(
        features={"tenure_days": 1.0, "tier": "gold"},
        state=ContactState(consent=consent),
        req=request(partner_id=partner),
    )
    assert d.offer_id is None
    assert d.codes() == [*codes, "risk_route"]


def test_a_sharing_partner_with_consent_may_decide() -> None:
    d = _decide(req=request(partner_id="P2"))
    assert d.offer_id == "A"
    basis = d.reasons[d.codes().index("consent_basis")]
    assert basis.clause == "consent.data_sharing_partners"


def test_marketing_consent_not_required_by_the_contract() -> None:
    cp = compiled(**{"consent.require_marketing_consent": False})
    d = _decide(cp, state=ContactState(consent=Consent(False, frozenset({"P1"}))))
    assert d.offer_id == "A"


@pytest.mark.parametrize(
    ("when", "code", "clause"),
    [
        (dt.datetime(2025, 12, 25, tzinfo=dt.UTC), "blackout", "blackouts[0]"),
        (dt.datetime(2024, 12, 31, 23, tzinfo=dt.UTC), "contract_dates", "valid_from"),
        (dt.datetime(2027, 1, 1, tzinfo=dt.UTC), "contract_dates", "valid_to"),
    ],
)
def test_dates_and_blackouts(when, code, clause) -> None:
    d = _decide(req=request(time=when))
    assert d.offer_id is None
    assert (d.reasons[0].code, d.reasons[0].clause) == (code, clause)


def test_blackout_text_names_the_window() -> None:
    d = _decide(req=request(time=dt.datetime(2025, 12, 24, tzinfo=dt.UTC)))
    assert (
        d.reasons[0].text == "2025-12-24 falls in the blackout 2025-12-24 to 2025-12-26 (holidays)."
    )


def test_eligibility_fails_and_a_missing_feature_fails_closed() -> None:
    d = _decide(features={"tenure_days": 10.0, "tier": "gold"})
    assert d.offer_id is None and d.codes()[0] == "eligibility"
    assert "`customer.tenure_days >= 30`" in d.reasons[0].text
    d = _decide(features={"tier": "gold"})
    assert d.offer_id is None and d.codes()[0] == "eligibility"
    assert "no value for 'tenure_days'" in d.reasons[0].text


def test_suppression_after_declines_within_the_window_only() -> None:
    declines = (NOW - 10 * DAY, NOW - 80 * DAY)
    state = ContactState(declines=declines, consent=CONSENTED.consent)
    d = _decide(state=state)
    assert d.offer_id is None
    assert d.reasons[0].clause == "contact_policy.suppress_after_declines"
    old = ContactState(declines=(NOW - 10 * DAY, NOW - 95 * DAY), consent=CONSENTED.consent)
    assert _decide(state=old).offer_id == "A"


def test_contact_limit_per_channel_excludes_offers_on_that_channel() -> None:
    contacts = {"email": [NOW - DAY, NOW - 5 * DAY], "sms": [NOW - 40 * DAY]}
    d = _decide(state=ContactState(contacts=contacts, consent=CONSENTED.consent))
    assert d.offer_id == "B"
    excluded = d.reasons[d.codes().index("contact_limit")]
    assert (excluded.offer_id, excluded.clause) == ("A", "contact_policy.max_contacts")
    assert excluded.text == "2 contact(s) by email in the last 30 days reach the limit of 2."
    cp = compiled(**{"contact_policy.per_channel": {"sms": {"count": 0, "window_days": 7}}})
    d = _decide(cp, state=ContactState(contacts=contacts, consent=CONSENTED.consent))
    assert d.offer_id is None
    clauses = {r.offer_id: r.clause for r in d.reasons if r.code == "contact_limit"}
    assert clauses == {"A": "contact_policy.max_contacts", "B": "contact_policy.per_channel.sms"}


def test_cap_per_customer_per_period() -> None:
    d = _decide(state=ContactState(grants={"A": 1}, consent=CONSENTED.consent))
    assert d.offer_id == "B"
    cap = d.reasons[d.codes().index("cap")]
    assert cap.clause == "offers[0].cap_per_customer_per_period"
    assert cap.text == (
        "Offer A was already granted 1 time(s) in 2025Q1; the cap is 1 per customer per quarter."
    )


def test_over_limit_reject_skips_the_offer_that_does_not_fit() -> None:
    d = _decide(remaining=Remaining(contract=800))
    assert d.offer_id == "B"
    budget = d.reasons[d.codes().index("budget")]
    assert (budget.offer_id, budget.clause) == ("A", "over_limit")
    assert _decide(remaining=Remaining(contract=5000, offers={"A": 999})).offer_id == "B"
    assert _decide(remaining=Remaining(customer=0)).offer_id is None


def test_over_limit_grant_remaining_grants_a_part() -> None:
    d = _decide(compiled(over_limit="grant_remaining"), remaining=Remaining(contract=800))
    assert (d.offer_id, d.points, d.cost) == ("A", 800, 8.0)
    assert d.expected_value == pytest.approx(0.4 * 100 * 0.5 * 0.8 - 8)
    assert "partial_grant" in d.codes()


def test_an_offer_without_propensity_is_not_valued() -> None:
    d = _decide(scores=Scores(0.5, 0.1, {"B": 0.5}))
    assert d.offer_id == "B"
    assert d.candidates[0].excluded_by == "no_propensity"


@pytest.mark.parametrize(
    ("risk", "route", "offer", "clause"),
    [
        (0.29, "approve", "A", "risk_routing.approve_below"),
        (0.3, "review", "A", "risk_routing.review_below"),
        (0.69, "review", "A", "risk_routing.review_below"),
        (0.7, "reject", None, "risk_routing.review_below"),
        (None, "review", "A", "risk_routing"),
    ],
)
def test_risk_routing(risk, route, offer, clause) -> None:
    d = _decide(scores=Scores(0.5, risk, {"A": 0.4, "B": 0.5}))
    assert (d.route, d.offer_id) == (route, offer)
    assert d.reasons[d.codes().index("risk_route")].clause == clause


def test_missing_churn_score_means_no_offer_unless_churn_does_not_count() -> None:
    d = _decide(scores=Scores(None, 0.1, {"A": 0.4, "B": 0.5}))
    assert d.offer_id is None and d.codes()[0] == "missing_score"
    cp = compiled(**{"arbitration.churn_weight": 0.0})
    d = _decide(cp, scores=Scores(None, 0.1, {"A": 0.4, "B": 0.5}))
    assert d.offer_id == "A" and d.expected_value == pytest.approx(0.4 * 100 - 10)


def test_suitability_and_applicability_per_offer() -> None:
    d = _decide(
        features={"tenure_days": 400.0, "tier": "silver"},
        scores=Scores(0.5, 0.1, {"A": 0.1, "B": 0.9}),
    )
    assert d.offer_id is None
    suit = d.reasons[d.codes().index("suitability")]
    assert (suit.offer_id, suit.clause) == ("B", "offers[1].suitability")
    cp = compiled(
        **{"offers.0.applicability": 'request.channel == "app" && offer.propensity > 0.3'}
    )
    assert _decide(cp, req=request(channel="app")).offer_id == "A"
    d = _decide(cp, req=request(channel="web"))
    assert d.offer_id == "B" and d.candidates[0].excluded_by == "applicability"


def test_model_factors_in_words() -> None:
    scores = Scores(
        0.5,
        0.1,
        {"A": 0.4, "B": 0.5},
        factors={
            "risk": [("accrual_velocity_30d", 0.2)],
            "churn": [
                ("activity_90d", -0.05),
                ("days_since_last_purchase", 0.12),
                ("tier", 0.01),
                ("x", 0.0),
            ],
        },
    )
    d = _decide(scores=scores)
    factors = [r for r in d.reasons if r.code == "model_factors"]
    assert [r.clause for r in factors] == ["arbitration.churn_weight", "risk_routing"]
    assert factors[0].text == (
        "Churn score 0.50; main factors: days since last purchase (raises it by 0.12), "
        "activity 90d (lowers it by 0.05), tier (raises it by 0.01)."
    )


def test_decision_is_json_ready_and_names_only_the_features_it_reads() -> None:
    cp = compiled()
    assert cp.features == ("tenure_days", "tier")
    d = _decide(cp)
    body = json.loads(json.dumps(d.to_dict()))
    assert body["offer_id"] == "A" and body["reasons"][0]["clause"] == "offers[0]"


def test_no_cel_at_all_is_fine() -> None:
    cp = compiled(eligibility=DROP, **{"offers.1.suitability": None})
    assert not cp.uses_cel and cp.features == ()
    assert _decide(cp, features={}).offer_id == "A"


@pytest.mark.parametrize(
    ("kind", "when", "key"),
    [
        ("month", dt.datetime(2025, 7, 31, 23, tzinfo=dt.UTC), "2025-07"),
        ("quarter", dt.datetime(2025, 7, 1, tzinfo=dt.UTC), "2025Q3"),
        ("year", dt.datetime(2025, 12, 31, 23, 59, tzinfo=dt.UTC), "2025"),
        ("month", dt.datetime(2025, 8, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2))), "2025-07"),
    ],
)
def test_period_keys(kind, when, key) -> None:
    assert period_key(when, kind) == key
