"""The plain data in and out of a decision: request, contact state, scores, budget left, and the
decision with its reasons. No I/O; serving, the promotion gate's replay and the simulator build
these from their own sources.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Route = Literal["approve", "review", "reject", "none"]  # none: not scored (consent), no routing


def utc(when: dt.datetime) -> dt.datetime:
    """An aware UTC time; a naive one is taken to be UTC already."""
    if when.tzinfo is None:
        return when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


@dataclass(frozen=True, slots=True)
class Request:
    """When and where the orchestrator asks; partner_id None means the contract's own partner."""

    time: dt.datetime
    channel: str | None = None
    partner_id: str | None = None
    event: str | None = None


@dataclass(frozen=True, slots=True)
class Consent:
    """What the customer allows: marketing at all, and which partners may use their data."""

    marketing: bool = False
    data_partners: frozenset[str] = frozenset()
    basis: tuple[str, ...] = ()  # what each scope rests on, in words (the consent event)

    @classmethod
    def from_features(
        cls,
        features: Mapping[str, Any],
        sharing: Iterable[str],
        sources: Mapping[str, str] | None = None,
    ) -> Consent:
        """From the consent features: the customer's own partner may use their data unless data
        sharing was withdrawn; the partners in ``sharing`` only with data-sharing consent.
        ``sources`` says where each consent feature came from (default: the snapshot)."""
        marketing = _flag(features.get("consent_marketing")) == 1
        shared = _flag(features.get("consent_data_sharing"))
        home = features.get("partner_id")
        partners = set(sharing) if shared == 1 else set()
        if home is not None and shared != 0:
            partners.add(str(home))
        basis = tuple(
            f"{scope.replace('_', ' ')} {_STATES.get(_flag(features.get(f'consent_{scope}')))}"
            f" ({(sources or {}).get(f'consent_{scope}', 'the feature snapshot')})"
            for scope in ("marketing", "data_sharing")
        )
        return cls(marketing=marketing, data_partners=frozenset(partners), basis=basis)


_STATES = {1: "granted", 0: "withdrawn", -1: "not known"}


def _flag(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


@dataclass(frozen=True, slots=True)
class ContactState:
    """The customer's recent history under the contract: contacts and declines other systems
    reported, grants per offer in the period (reported sends and the service's own grants),
    consent, and the service's own grants per channel inside each channel's contact window."""

    contacts: Mapping[str, Sequence[dt.datetime]] = field(default_factory=dict)
    declines: Sequence[dt.datetime] = ()
    grants: Mapping[str, int] = field(default_factory=dict)
    consent: Consent = field(default_factory=Consent)
    own_contacts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scores:
    """Model outputs: probabilities (None when a model is unavailable) and top factors per model
    as (feature, contribution) pairs, e.g. ``{"churn": [("days_since_last_purchase", 0.12)]}``."""

    churn: float | None
    risk: float | None
    propensity: Mapping[str, float] = field(default_factory=dict)
    factors: Mapping[str, Sequence[tuple[str, float]]] = field(default_factory=dict)
    withheld: bool = False  # not scored: consent did not allow the customer's data to be read


WITHHELD = Scores(None, None, withheld=True)


@dataclass(frozen=True, slots=True)
class Remaining:
    """What is left per ledger scope, in points and in money (minor units); None: not known or
    not limited, not checked here."""

    contract: int | None = None
    customer: int | None = None
    offers: Mapping[str, int] = field(default_factory=dict)
    contract_money: int | None = None
    customer_money: int | None = None
    offer_money: Mapping[str, int] = field(default_factory=dict)

    def for_offer(self, offer_id: str) -> int | None:
        """Points left for the offer: the least of the contract's, the customer's, its own."""
        return _least(self.contract, self.customer, self.offers.get(offer_id))

    def money_for_offer(self, offer_id: str) -> int | None:
        """Money left for the offer, in minor units, the same way."""
        return _least(self.contract_money, self.customer_money, self.offer_money.get(offer_id))


def _least(*values: int | None) -> int | None:
    known = [v for v in values if v is not None]
    return min(known) if known else None


@dataclass(frozen=True, slots=True)
class Reason:
    """Why: a stable code, the policy clause (YAML path), the version and a plain sentence."""

    code: str
    clause: str
    text: str
    policy_version: str
    offer_id: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    """One catalogue offer as arbitration saw it: its value, or the rule that excluded it."""

    offer_id: str
    points: int
    expected_value: float | None
    excluded_by: str | None = None


@dataclass(frozen=True)
class Decision:
    """The action for one request: an offer (or none), its points, the route, and why."""

    contract_id: str
    policy_version: str
    period: str
    route: Route
    offer_id: str | None
    points: int
    cost: float
    expected_value: float | None
    reasons: tuple[Reason, ...]
    candidates: tuple[Candidate, ...] = ()

    @property
    def granted(self) -> bool:
        """True when an offer goes ahead (approved now or after review)."""
        return self.offer_id is not None

    def codes(self) -> list[str]:
        return [r.code for r in self.reasons]

    def to_dict(self) -> dict:
        """JSON-ready: what the decision record and the audit trail store."""
        return asdict(self)
