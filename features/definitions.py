"""The customer feature set, version 1: name, type, allowed range and neutral value of each feature.

A neutral value is what a feature takes when its source is absent from the log (a purchases-only
log has no complaints, offers or tiers): the feature is still defined, never an error. Time-since
features cap at NEVER_DAYS, which also stands for "never happened".
"""

from __future__ import annotations

from dataclasses import dataclass

FEATURE_SET_VERSION = 3  # 2: month_of_year (seasonality); 3: whole-history habits
# event columns no feature or label reads: validated, then dropped before building (memory)
UNUSED_EVENT_COLUMNS = ("channel", "reason", "schema_version")
WINDOWS = (7, 30, 90, 365)
NEVER_DAYS = 3650.0
UNKNOWN = "unknown"


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    dtype: str  # "float" | "int" | "category"
    doc: str
    min_value: float | None = 0.0
    max_value: float | None = None
    neutral: float | str = 0.0
    nullable: bool = False


def _count(name: str, doc: str) -> FeatureSpec:
    return FeatureSpec(name, "int", doc)


def _amount(name: str, doc: str) -> FeatureSpec:
    return FeatureSpec(name, "float", doc)


def _days(name: str, doc: str) -> FeatureSpec:
    return FeatureSpec(name, "float", doc, max_value=NEVER_DAYS, neutral=NEVER_DAYS)


def _share(name: str, doc: str) -> FeatureSpec:
    return FeatureSpec(name, "float", doc, max_value=1.0)


def _category(name: str, doc: str) -> FeatureSpec:
    return FeatureSpec(name, "category", doc, min_value=None, neutral=UNKNOWN)


FEATURES: tuple[FeatureSpec, ...] = (
    # who and where (reference attributes and latest dated state)
    _category("region", "Customer region (customers table)."),
    _category("acquisition_channel", "How the customer was acquired (customers table)."),
    FeatureSpec(
        "age_years",
        "float",
        "Age at T from birth year; NaN when unknown.",
        16,
        110,
        float("nan"),
        nullable=True,
    ),
    FeatureSpec(
        "month_of_year", "int", "Calendar month of T, 1-12 (seasonal behaviour).", 1, 12, 1
    ),
    _category("partner_id", "Partner of the latest enrolment before T (else of the latest visit)."),
    _category("partner_kind", "Kind of that partner (partners table)."),
    _amount("contract_cost_per_point", "Money per point under the customer's contract."),
    _days("tenure_days", "Days since the first enrolment (or first event) before T."),
    _category("tier", "Tier as of T (latest tier event; basic when none)."),
    _days("days_in_tier", "Days since the latest tier change (or enrolment)."),
    _category("product_model", "Latest product registered before T."),
    FeatureSpec(
        "product_age_years",
        "float",
        "Years since the product's model year; NaN unknown.",
        -1,
        60,
        float("nan"),
        nullable=True,
    ),
    _count("products_registered", "Products registered before T."),
    FeatureSpec(
        "consent_marketing", "int", "1 granted, 0 withdrawn, -1 unknown, as of T.", -1, 1, -1
    ),
    FeatureSpec(
        "consent_data_sharing", "int", "1 granted, 0 withdrawn, -1 unknown, as of T.", -1, 1, -1
    ),
    # recency, frequency, monetary
    _days("days_since_last_activity", "Days since the last qualifying activity."),
    _days("days_since_last_purchase", "Days since the last purchase."),
    _days("days_since_last_service", "Days since the last service visit."),
    *(
        _count(f"activity_{w}d", f"Qualifying activities in the {w} days before T.")
        for w in WINDOWS
    ),
    *(_count(f"purchases_{w}d", f"Purchases in the {w} days before T.") for w in WINDOWS[1:]),
    *(_amount(f"spend_{w}d", f"Purchase amount in the {w} days before T.") for w in WINDOWS[1:]),
    *(
        _count(f"service_visits_{w}d", f"Service visits in the {w} days before T.")
        for w in (90, 365)
    ),
    _amount("service_spend_365d", "Service amount in the 365 days before T."),
    _amount("avg_ticket_365d", "Mean amount per purchase or service visit over 365 days."),
    FeatureSpec(
        "activity_trend", "float", "(activity_90d + 1) / (activity_365d / 4 + 1).", 0, None, 1.0
    ),
    # points
    *(
        _amount(f"points_earned_{w}d", f"Points accrued in the {w} days before T.")
        for w in (30, 90, 365)
    ),
    *(
        _amount(f"points_redeemed_{w}d", f"Points redeemed in the {w} days before T.")
        for w in (90, 365)
    ),
    FeatureSpec("points_balance", "float", "Accrued minus redeemed and expired, before T.", None),
    _amount("redeem_to_earn_365d", "points_redeemed_365d / max(points_earned_365d, 1)."),
    _days("days_since_last_redemption", "Days since the last points redemption."),
    # complaints
    *(_count(f"complaints_{w}d", f"Complaints in the {w} days before T.") for w in (90, 365)),
    _days("days_since_last_complaint", "Days since the last complaint."),
    # offers
    *(
        _count(f"offers_received_{w}d", f"Offers sent in the {w} days before T.")
        for w in (30, 90, 365)
    ),
    _count("offers_redeemed_365d", "Offers redeemed in the 365 days before T."),
    *(
        _count(f"offers_declined_{w}d", f"Offers declined in the {w} days before T.")
        for w in (90, 365)
    ),
    _share(
        "offer_response_rate_365d", "offers_redeemed_365d / max(offers_received_365d, 1), capped."
    ),
    _days("days_since_last_offer", "Days since the last offer sent."),
    _days("days_since_last_offer_redeemed", "Days since the last offer redeemed."),
    # whole-history habits (everything before T): steadier than one year for long tenures
    _amount("visits_per_year_all", "Visits per year of tenure (at least 30 days), whole history."),
    _amount("avg_ticket_all", "Mean amount per purchase or service visit, whole history."),
    _share("redemptions_per_visit_all", "Points redemptions per visit, whole history, capped."),
    _count("offers_received_all", "Offers sent before T."),
    _share("offer_response_rate_all", "Offers redeemed per offer sent, whole history, capped."),
    _share("offer_decline_rate_all", "Offers declined per offer sent, whole history, capped."),
    # abuse signals
    _amount("accrual_velocity_30d", "Points accrued per day over the 30 days before T."),
    _count("small_purchases_90d", "Purchases under 100 money units in the 90 days before T."),
    _share(
        "soon_redemption_share_365d",
        "Share of redemptions (365 days) larger than the balance 7 days before them.",
    ),
    _share("dealer_concentration_365d", "Largest share of one dealer in the visits of 365 days."),
    _count("distinct_dealers_365d", "Dealers visited in the 365 days before T."),
    _count("suspected_flags_365d", "Accounts flags raised as suspected in the 365 days before T."),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
CATEGORICAL: tuple[str, ...] = tuple(f.name for f in FEATURES if f.dtype == "category")
SPECS: dict[str, FeatureSpec] = {f.name: f for f in FEATURES}
