"""Shared literal policy for the policy and arbitration tests (this module holds no tests)."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from guardrails.decision import Consent, ContactState, Request, Scores
from guardrails.policy import CompiledPolicy, Policy, compile_policy

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
BASE: dict[str, Any] = {
    "format_version": 1,
    "contract_id": "C-1",
    "partner_id": "P1",
    "valid_from": "2025-01-01",
    "valid_to": "2027-01-01",
    "budget": {
        "period": "quarter",
        "points_per_period": 10_000,
        "cost_per_point": 0.01,
        "currency": "EUR",
    },
    "offers": [
        {
            "offer_id": "A",
            "type": "voucher",
            "points_cost": 1000,
            "value_to_program": 100.0,
            "cap_per_customer_per_period": 1,
            "channel": "email",
        },
        {
            "offer_id": "B",
            "type": "bonus",
            "points_cost": 500,
            "value_to_program": 40.0,
            "cap_per_customer_per_period": 2,
            "channel": "sms",
            "suitability": 'customer.tier == "gold"',
        },
    ],
    "eligibility": "customer.tenure_days >= 30",
    "contact_policy": {
        "max_contacts": {"count": 2, "window_days": 30},
        "suppress_after_declines": {"declines": 2, "days": 90},
    },
    "consent": {"require_marketing_consent": True, "data_sharing_partners": ["P2"]},
    "risk_routing": {"approve_below": 0.3, "review_below": 0.7},
    "over_limit": "reject",
    "blackouts": [{"from": "2025-12-24", "to": "2025-12-26", "reason": "holidays"}],
    "arbitration": {"churn_weight": 1.0},
}
FEATURES = {"tenure_days": 400.0, "tier": "gold"}
CONSENTED = ContactState(consent=Consent(marketing=True, data_partners=frozenset({"P1", "P2"})))
SCORES = Scores(churn=0.5, risk=0.1, propensity={"A": 0.4, "B": 0.5})


def doc(**changes: Any) -> dict:
    """A deep copy of BASE; keys with dots (``budget.period``) reach into nested mappings."""
    out = copy.deepcopy(BASE)
    for key, value in changes.items():
        *parents, last = key.split(".")
        target = out
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        elif value is _DROP:
            target.pop(last, None)
        else:
            target[last] = value
    return out


_DROP = object()
DROP = _DROP


def compiled(**changes: Any) -> CompiledPolicy:
    return compile_policy(Policy.model_validate(doc(**changes)))


def request(**kw: Any) -> Request:
    return Request(time=kw.pop("time", NOW), **kw)
