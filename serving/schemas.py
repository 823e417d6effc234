"""Typed requests and responses of the decision service, each with the one example that is the
API default, the OpenAPI example and a test fixture."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import JsonDict

Id = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:@-]+$")
# bool first: a JSON true stays a bool (refused for a numeric feature with a 422 that names
# it) instead of being read as the number 1
FeatureValue = bool | float | int | str | None
Features = dict[str, FeatureValue]

EXAMPLE_SCORE: JsonDict = {
    "customers": [{"customer_id": "1"}, {"customer_id": "2", "features": {"complaints_90d": 2}}],
    "contract_id": "C-P01",
    "explain": False,
}
EXAMPLE_DECIDE: JsonDict = {
    "idempotency_key": "orch-2025-10-01-0001",
    "customer_id": "1",
    "contract_id": "C-P01",
    "channel": "app",
    "event": "purchase",
}
EXAMPLE_EVENTS: JsonDict = {
    "events": [
        {
            "event_id": "ev-1001",
            "event_type": "consent_changed",
            "occurred_at": "2025-10-01T09:00:00Z",
            "customer_id": "1",
            "consent_scope": "marketing",
            "consent_granted": False,
        }
    ]
}
EXAMPLE_ACTION: JsonDict = {"reason": "orchestrator cancelled the campaign"}
EXAMPLE_REVIEW: JsonDict = {"note": "known customer"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerIn(_Strict):
    customer_id: str = Id
    features: Features | None = Field(
        default=None, max_length=100, description="Values that override the stored features."
    )


class ScoreRequest(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": EXAMPLE_SCORE})
    customers: list[CustomerIn] = Field(min_length=1, max_length=100)
    contract_id: str | None = Field(
        default=None, max_length=64, description="Score this contract's offers for propensity."
    )
    explain: bool = Field(default=False, description="Add reason codes (costs CPU per row).")


class Factor(BaseModel):
    feature: str
    value: Any
    contribution: float
    text: str


class CustomerScores(BaseModel):
    customer_id: str
    churn: float | None
    risk: float | None
    propensity: dict[str, float]
    reasons: dict[str, list[Factor]] | None = None
    consent: str | None = Field(
        default=None,
        description="Why the customer was not scored (their consent does not allow the use of "
        "their data, with the consent event it rests on); null when scored.",
    )


class ScoreResponse(BaseModel):
    results: list[CustomerScores]
    model_versions: dict[str, str]
    feature_snapshot: str | None
    shadow: dict[str, str] = Field(default_factory=dict)


class DecideRequest(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": EXAMPLE_DECIDE})
    idempotency_key: str = Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:@-]+$")
    customer_id: str = Id
    contract_id: str = Id
    channel: (
        Literal[
            "dealer",
            "service_center",
            "web",
            "app",
            "email",
            "sms",
            "mail",
            "call_center",
            "system",
        ]
        | None
    ) = None
    partner_id: str | None = Field(default=None, max_length=64)
    event: str | None = Field(default=None, max_length=64)
    time: dt.datetime | None = Field(
        default=None,
        description="Decision time; default now. It must fall in the contract's current period "
        "by the service's clock (LOYALTY_CLOCK_SKEW_S across a boundary), unless backfill.",
    )
    features: Features | None = Field(default=None, max_length=100)
    mode: Literal["live", "backfill"] = Field(
        default="live",
        description="backfill (operator scope): decide and audit any time in the policy's "
        "validity without reserving budget; the status is 'simulated'.",
    )


class ReasonOut(BaseModel):
    code: str
    clause: str
    text: str
    policy_version: str
    offer_id: str | None = None


Status = Literal["approved", "pending_review", "rejected", "no_offer", "simulated"]


class DecideResponse(BaseModel):
    decision_id: str
    idempotency_key: str
    contract_id: str
    partner_id: str
    status: Status
    route: str
    offer_id: str | None
    points: int
    cost: float
    expected_value: float | None
    period: str
    reservation_id: str | None
    review_id: str | None
    reasons: list[ReasonOut]
    factors: dict[str, list[str]]
    scores: dict[str, Any]
    versions: dict[str, Any]
    decided_at: str
    replayed: bool = False
    state: str | None = Field(default=None, description="Reservation state on lookups.")


class EventIn(_Strict):
    event_id: str = Id
    event_type: Literal[
        "consent_changed", "offer_sent", "offer_declined", "offer_redeemed", "points_redeemed"
    ]
    occurred_at: dt.datetime
    customer_id: str = Id
    partner_id: str | None = Field(default=None, max_length=64)
    contract_id: str | None = Field(default=None, max_length=64)
    offer_id: str | None = Field(default=None, max_length=64)
    channel: str | None = Field(default=None, max_length=16)
    points: int | None = Field(default=None, ge=0, le=2**63 - 1)  # what the state store holds
    consent_scope: Literal["marketing", "data_sharing"] | None = None
    consent_granted: bool | None = None
    decision_id: str | None = Field(
        default=None,
        max_length=64,
        description="On offer_sent: the decision whose offer was sent. Its grant already counts "
        "toward caps and contact limits, so the send is not counted twice.",
    )


class EventsRequest(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": EXAMPLE_EVENTS})
    events: list[EventIn] = Field(min_length=1, max_length=1000)


class EventsResponse(BaseModel):
    accepted: int
    duplicates: int


class ActionRequest(_Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": EXAMPLE_ACTION})
    reason: str | None = Field(default=None, max_length=500)


class ReviewAction(_Strict):
    """A reviewer's verdict: who resolved it is the calling token's label, never a name in the
    body; a ``by`` sent by an older client is kept in the note as what the request said."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": EXAMPLE_REVIEW})
    note: str | None = Field(default=None, max_length=500)
    by: str | None = Field(
        default=None,
        max_length=64,
        description="Deprecated: not an identity. Kept in the note as 'request named: ...'.",
    )
