"""The canonical loyalty event schema, version 1.

One long table of events plus reference tables (customers, partners, contracts, offers).
Everything that changes over time about a customer (tier, consent, product, flags) arrives as a
dated event, so point-in-time features never read end-of-history values.

This module is pure declarations: the readers and validators in ``features.io`` and
``features.validation`` interpret them, and docs/event-schema.md documents them for people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = frozenset({1})


class EventType(StrEnum):
    """Every event type of schema v1; the docs explain each one and its required attributes."""

    ENROLLMENT = "enrollment"
    PRODUCT_REGISTERED = "product_registered"
    PURCHASE = "purchase"
    SERVICE_VISIT = "service_visit"
    POINTS_ACCRUED = "points_accrued"
    POINTS_REDEEMED = "points_redeemed"
    POINTS_EXPIRED = "points_expired"
    TIER_CHANGED = "tier_changed"
    OFFER_SENT = "offer_sent"
    OFFER_REDEEMED = "offer_redeemed"
    OFFER_DECLINED = "offer_declined"
    COMPLAINT = "complaint"
    CONSENT_CHANGED = "consent_changed"
    ACCOUNT_FLAGGED = "account_flagged"
    ACCOUNT_CLOSED = "account_closed"


class Channel(StrEnum):
    """Where an event happened or through which a contact went."""

    DEALER = "dealer"
    SERVICE_CENTER = "service_center"
    WEB = "web"
    APP = "app"
    EMAIL = "email"
    SMS = "sms"
    MAIL = "mail"
    CALL_CENTER = "call_center"
    SYSTEM = "system"


class Tier(StrEnum):
    BASIC = "basic"
    SILVER = "silver"
    GOLD = "gold"
    PLATINUM = "platinum"


class ConsentScope(StrEnum):
    MARKETING = "marketing"
    DATA_SHARING = "data_sharing"


class FlagStatus(StrEnum):
    SUSPECTED = "suspected"
    CONFIRMED = "confirmed"
    CLEARED = "cleared"


TIER_ORDER: tuple[str, ...] = tuple(t.value for t in Tier)

# Customer-initiated transactions. Churn means none of these in the horizon; offer redemptions
# and accruals alone do not count, because they answer our own marketing rather than show
# organic engagement with the network.
QUALIFYING_ACTIVITY: frozenset[str] = frozenset(
    {EventType.PURCHASE, EventType.SERVICE_VISIT, EventType.POINTS_REDEEMED}
)


@dataclass(frozen=True)
class Column:
    """One column of a canonical table.

    ``kind`` is one of: id (integer or string identifier), category (one of ``values``),
    string, timestamp (UTC), float, int, bool.
    """

    name: str
    kind: str
    required: bool = True
    nullable: bool = False
    values: tuple[str, ...] = ()
    min_value: float | None = None
    doc: str = ""


@dataclass(frozen=True)
class TableSchema:
    name: str
    version: int
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    doc: str = ""

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _enum_values(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(e.value for e in enum)


EVENTS = TableSchema(
    name="events",
    version=SCHEMA_VERSION,
    key=("event_id",),
    doc=(
        "One row per loyalty event; order does not matter; exact duplicates are dropped and "
        "counted, the same event_id with different content is an error."
    ),
    columns=(
        Column("event_id", "id", doc="Unique event identifier (integer or string)."),
        Column("event_type", "category", values=_enum_values(EventType)),
        Column("occurred_at", "timestamp", doc="When it happened, UTC (naive means UTC)."),
        Column("customer_id", "id", doc="Pseudonymous customer identifier."),
        Column("partner_id", "id", required=False, nullable=True),
        Column("contract_id", "id", required=False, nullable=True),
        Column("channel", "category", required=False, nullable=True, values=_enum_values(Channel)),
        Column(
            "amount",
            "float",
            required=False,
            nullable=True,
            min_value=0.0,
            doc="Money value (purchase, service visit, offer value), contract currency.",
        ),
        Column(
            "points",
            "int",
            required=False,
            nullable=True,
            min_value=0,
            doc="Points moved; always non-negative, the event type gives the direction.",
        ),
        Column("offer_id", "id", required=False, nullable=True),
        Column(
            "ref_event_id",
            "id",
            required=False,
            nullable=True,
            doc="The offer_sent event an offer_redeemed/offer_declined answers.",
        ),
        Column(
            "dealer_id",
            "id",
            required=False,
            nullable=True,
            doc="Dealer or service site within the partner's network.",
        ),
        Column("tier", "category", required=False, nullable=True, values=TIER_ORDER),
        Column("product_model", "string", required=False, nullable=True),
        Column("product_year", "int", required=False, nullable=True, min_value=1900),
        Column(
            "consent_scope",
            "category",
            required=False,
            nullable=True,
            values=_enum_values(ConsentScope),
        ),
        Column("consent_granted", "bool", required=False, nullable=True),
        Column(
            "flag_status",
            "category",
            required=False,
            nullable=True,
            values=_enum_values(FlagStatus),
        ),
        Column("reason", "string", required=False, nullable=True),
        Column(
            "schema_version",
            "int",
            required=False,
            nullable=True,
            doc="Schema version of the row; absent means version 1.",
        ),
    ),
)

# Attributes each event type must carry (non-null) beyond the always-required columns.
REQUIRED_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    EventType.ENROLLMENT: ("partner_id", "contract_id", "tier"),
    EventType.PRODUCT_REGISTERED: ("product_model",),
    EventType.PURCHASE: ("partner_id", "amount"),
    EventType.SERVICE_VISIT: ("partner_id", "amount"),
    EventType.POINTS_ACCRUED: ("partner_id", "points"),
    EventType.POINTS_REDEEMED: ("partner_id", "points"),
    EventType.POINTS_EXPIRED: ("points",),
    EventType.TIER_CHANGED: ("tier",),
    EventType.OFFER_SENT: ("partner_id", "contract_id", "offer_id"),
    EventType.OFFER_REDEEMED: ("partner_id", "contract_id", "offer_id"),
    EventType.OFFER_DECLINED: ("partner_id", "contract_id", "offer_id"),
    EventType.COMPLAINT: (),
    EventType.CONSENT_CHANGED: ("consent_scope", "consent_granted"),
    EventType.ACCOUNT_FLAGGED: ("flag_status",),
    EventType.ACCOUNT_CLOSED: (),
}

CUSTOMERS = TableSchema(
    name="customers",
    version=SCHEMA_VERSION,
    key=("customer_id",),
    doc="Attributes that never change. Anything that changes over time is an event.",
    columns=(
        Column("customer_id", "id"),
        Column("region", "string", required=False, nullable=True),
        Column("acquisition_channel", "string", required=False, nullable=True),
        Column("birth_year", "int", required=False, nullable=True, min_value=1900),
        Column("schema_version", "int", required=False, nullable=True),
    ),
)

PARTNERS = TableSchema(
    name="partners",
    version=SCHEMA_VERSION,
    key=("partner_id",),
    columns=(
        Column("partner_id", "id"),
        Column("name", "string"),
        Column("kind", "category", values=("oem", "service_network", "retail")),
        Column("joined_at", "timestamp", doc="When the partner joined the program."),
        Column("n_dealers", "int", required=False, nullable=True, min_value=0),
        Column("schema_version", "int", required=False, nullable=True),
    ),
)

CONTRACTS = TableSchema(
    name="contracts",
    version=SCHEMA_VERSION,
    key=("contract_id",),
    columns=(
        Column("contract_id", "id"),
        Column("partner_id", "id"),
        Column("starts_at", "timestamp"),
        Column("ends_at", "timestamp"),
        Column("budget_period", "category", values=("month", "quarter", "year")),
        Column("budget_points_per_period", "int", min_value=0),
        Column("cost_per_point", "float", min_value=0.0, doc="Money per point."),
        Column("currency", "string"),
        Column(
            "data_sharing_partners",
            "string",
            required=False,
            nullable=True,
            doc="Partner ids this contract may share customer data with, ';'-separated.",
        ),
        Column("schema_version", "int", required=False, nullable=True),
    ),
)

OFFERS = TableSchema(
    name="offers",
    version=SCHEMA_VERSION,
    key=("offer_id",),
    doc="The offer catalogue of each contract.",
    columns=(
        Column("offer_id", "id"),
        Column("contract_id", "id"),
        Column(
            "offer_type",
            "category",
            values=("service_voucher", "accessory_discount", "bonus_points", "upgrade_incentive"),
        ),
        Column("points_cost", "int", min_value=0, doc="Points the contract budget pays."),
        Column("value", "float", min_value=0.0, doc="Money value to the customer."),
        Column("valid_days", "int", min_value=1, doc="Days a sent offer stays redeemable."),
        Column("cap_per_customer_per_period", "int", min_value=0),
        Column("channel", "category", values=_enum_values(Channel)),
        Column("schema_version", "int", required=False, nullable=True),
    ),
)

REFERENCE_TABLES: dict[str, TableSchema] = {
    t.name: t for t in (CUSTOMERS, PARTNERS, CONTRACTS, OFFERS)
}
ALL_TABLES: dict[str, TableSchema] = {"events": EVENTS, **REFERENCE_TABLES}


@dataclass(frozen=True)
class Dtypes:
    """The in-memory (pandas) dtypes a loaded table is normalised to."""

    timestamp: str = "datetime64[us, UTC]"
    float: str = "float64"
    int: str = "Int64"
    bool: str = "boolean"
    category: str = "category"
    string: str = "category"  # low-cardinality text: category saves memory on big logs
    id_int: str = "int64"  # nullable optional id columns become "Int64"
    id_str: str = "category"
    extra: dict[str, str] = field(default_factory=dict)


DTYPES = Dtypes()
