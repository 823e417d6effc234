"""The contract policy format, version 1: one YAML document per contract (see docs/policies.md).

Pydantic models with unknown keys forbidden and strict numbers, so a typo or a quoted number is an
error with its path rather than a silent default. Checks that span several fields (duplicate offer
ids, thresholds in order, budgets that add up) live in ``checks``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from features.schema import Channel

FORMAT_VERSION = 1
PeriodKind = Literal["month", "quarter", "year"]
OverLimit = Literal["reject", "grant_remaining"]
Probability = StrictFloat
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Budget(_Model):
    """Points per period, what a point costs, and optional limits per scope in points and in
    money (major units of ``currency``; the ledger keeps integer minor units).

    Limits per scope: the contract's per period (``points_per_period``, ``money_per_period``)
    and over its life (``total_points``, ``total_money``), each customer's per period and over
    the contract's life, and the partner's per period and over its life across all of its
    contracts (every contract of the partner should state the same; the latest reservation's
    applies). An award's money is its points x ``cost_per_point`` plus the offer's
    ``money_value``."""

    period: PeriodKind
    points_per_period: StrictInt = Field(gt=0)
    cost_per_point: StrictFloat = Field(gt=0)
    currency: StrictStr = Field(pattern=r"^[A-Z]{3}$")
    money_per_period: StrictFloat | None = Field(default=None, gt=0)
    total_points: StrictInt | None = Field(default=None, gt=0)
    customer_points_per_period: StrictInt | None = Field(default=None, gt=0)
    customer_total_points: StrictInt | None = Field(default=None, gt=0)
    partner_points_per_period: StrictInt | None = Field(default=None, gt=0)
    partner_total_points: StrictInt | None = Field(default=None, gt=0)
    total_money: StrictFloat | None = Field(default=None, gt=0)
    customer_money_per_period: StrictFloat | None = Field(default=None, gt=0)
    customer_total_money: StrictFloat | None = Field(default=None, gt=0)
    partner_money_per_period: StrictFloat | None = Field(default=None, gt=0)
    partner_total_money: StrictFloat | None = Field(default=None, gt=0)
    carry_over: StrictBool = False  # unspent points (and money) of a period add to the next, once


class Offer(_Model):
    """One catalogue entry: what it costs the budget (points, and money paid besides them),
    what it is worth to the program if taken, and its own limits per period and lifetime."""

    offer_id: StrictStr = Field(pattern=_ID)
    type: StrictStr = Field(min_length=1)
    points_cost: StrictInt = Field(gt=0)
    value_to_program: StrictFloat = Field(ge=0)
    face_value: StrictFloat | None = Field(default=None, ge=0)
    valid_days: StrictInt = Field(default=30, gt=0)
    cap_per_customer_per_period: StrictInt = Field(gt=0)
    points_per_period: StrictInt | None = Field(default=None, gt=0)
    total_points: StrictInt | None = Field(default=None, gt=0)
    money_value: StrictFloat | None = Field(default=None, gt=0)  # None: points only
    money_per_period: StrictFloat | None = Field(default=None, gt=0)
    total_money: StrictFloat | None = Field(default=None, gt=0)
    channel: Channel
    applicability: StrictStr | None = None
    suitability: StrictStr | None = None


class ContactWindow(_Model):
    count: StrictInt = Field(ge=0)
    window_days: StrictInt = Field(gt=0)


class Suppression(_Model):
    declines: StrictInt = Field(gt=0)
    days: StrictInt = Field(gt=0)


class ContactPolicy(_Model):
    """At most ``count`` contacts per channel per window; quiet for ``days`` after K declines."""

    max_contacts: ContactWindow
    per_channel: dict[Channel, ContactWindow] = Field(default_factory=dict)
    suppress_after_declines: Suppression | None = None


class ConsentTerms(_Model):
    """Which partners, besides the contract's own, may use its customers' data."""

    require_marketing_consent: StrictBool = True
    data_sharing_partners: list[StrictStr] = Field(default_factory=list)


class RiskRouting(_Model):
    """risk < approve_below: approve; < review_below: human review; otherwise reject."""

    approve_below: Probability = Field(ge=0, le=1)
    review_below: Probability = Field(ge=0, le=1)


class Blackout(_Model):
    starts: dt.date = Field(alias="from")
    ends: dt.date = Field(alias="to")
    reason: StrictStr = ""


class Arbitration(_Model):
    """How churn risk weighs the value of an offer (docs/policies.md, expected value)."""

    churn_weight: Probability = Field(default=1.0, ge=0, le=1)


class Policy(_Model):
    """One contract's terms, validated; ``content_hash`` of it is the policy version."""

    format_version: Literal[1]
    contract_id: StrictStr = Field(pattern=_ID)
    partner_id: StrictStr = Field(pattern=_ID)
    description: StrictStr | None = None
    valid_from: dt.date
    valid_to: dt.date
    budget: Budget
    offers: list[Offer] = Field(min_length=1)
    eligibility: StrictStr | None = None
    contact_policy: ContactPolicy
    consent: ConsentTerms
    risk_routing: RiskRouting
    over_limit: OverLimit = "reject"
    blackouts: list[Blackout] = Field(default_factory=list)
    arbitration: Arbitration = Field(default_factory=Arbitration)

    def document(self) -> dict:
        """The normalised document (YAML keys, JSON types): what is hashed, stored and diffed."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @property
    def data_partners(self) -> frozenset[str]:
        """Partners the contract lets use its customers' data: its own and the sharing list."""
        return frozenset([self.partner_id, *self.consent.data_sharing_partners])

    def offer(self, offer_id: str) -> Offer:
        for offer in self.offers:
            if offer.offer_id == offer_id:
                return offer
        raise KeyError(offer_id)
