"""Simulation settings and the behavioural constants of the synthetic ecosystem.

The constants are the generative story in numbers; docs/simulator.md explains each one. They are
plain module-level values (no side effects) so the truth functions and the generator share them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from features.errors import InputError

DEFAULT_START = "2024-01-01"
DEFAULT_MONTHS = 30
CHUNK_SIZE = 25_000  # fixed, so the same seed gives the same customers whatever N is
TRUTH_EXTRA_MONTHS = 24  # rate grid beyond the history, so truth answers any horizon

SCENARIOS = ("product_launch", "seasonal_swing", "partner_onboarding", "accrual_change")


# --- behaviour (rates are per day unless the name says otherwise) -----------------------------
VISITS_PER_YEAR = 6.0  # typical customer: two services and four purchases (parts, shop) a year
SERVICE_SHARE = 0.35  # of an honest customer's visits that are services
ENGAGEMENT_TICKET_EXPONENT = 0.8  # engaged customers also spend more per visit
LAPSES_PER_YEAR = 0.20  # base hazard of lapsing for a customer of median engagement
ENGAGEMENT_SIGMA = 0.6  # lognormal spread of latent engagement
ENGAGEMENT_IDIOSYNCRATIC_SD = 0.75  # of the standardised score; visible traits give the rest
ENGAGEMENT_TRAIT_MEAN = 0.13  # centres the trait part (acquisition mix, P03 share)
HAZARD_ENGAGEMENT_EXPONENT = -0.9  # engaged customers lapse less
SEASON = (0.80, 0.80, 1.10, 1.25, 1.15, 1.00, 0.85, 0.80, 1.10, 1.20, 1.05, 0.90)
SEASONAL_SWING_GAIN = 2.5  # the swing scenario multiplies the seasonal amplitude by this
PRODUCT_AGE_FREE_YEARS = 4  # ageing effects start after this many years
PRODUCT_AGE_HAZARD_SLOPE = 0.07  # per year beyond the free years
PRODUCT_AGE_VISIT_SLOPE = 0.05
NEW_PRODUCT_VISIT_FACTOR = 0.75  # the launched model needs fewer services
NEW_PRODUCT_HAZARD_FACTOR = 0.80
ACCRUAL_CHANGE_EARN_RATE = 0.6  # points per money unit after the rule change (was 1.0)
ACCRUAL_CHANGE_HAZARD_FACTOR = 1.5
ACCRUAL_CHANGE_VISIT_FACTOR = 0.9

ABUSER_SHARE = 0.013
ABUSER_VISITS_PER_YEAR = 80.0
ABUSER_DETECTION_PER_YEAR = 2.0  # confirmation hazard while an abuser is active
ABUSER_COLLUSION_BONUS = 3  # points multiplier a colluding dealer grants
FALSE_SUSPICION_PER_YEAR = 0.01

COMPLAINTS_PER_YEAR = 0.12  # scaled by the customer's relative hazard (a lapse signal)

MARKETING_CONSENT_SHARE = 0.75
CONSENT_WITHDRAWALS_PER_YEAR = 0.12

REDEEM_MIN_POINTS = 500
ABUSER_REDEEM_MIN_POINTS = 300
# the program's expiry rule: the whole balance expires at the end of the day this many days after
# the day of its latest movement (an accrual or a redemption); each movement restarts the clock
POINTS_EXPIRY_INACTIVE_DAYS = 365

OFFER_ACCEPT_DELAY_DAYS = 8.0  # mean days from send to redemption, if accepted
# of non-accepting contacts that say no explicitly, by response class: persuadables weigh an offer
# and answer, lost causes ignore it, do-not-disturbs object
CLASS_DECLINE_SHARE = (0.4, 0.3, 0.05, 0.6)
DND_LAPSE_PER_CONTACT = 0.15  # a do-not-disturb customer lapses at a contact with this chance
CAMPAIGN_GAP_DAYS = (31, 45)  # > every offer's validity: at most one campaign per offer window
CAMPAIGN_TARGET_FRACTION = (0.7, 0.95)  # share of eligible accounts a campaign contacts

TIER_THRESHOLDS = {"basic": 0, "silver": 1_500, "gold": 4_000, "platinum": 10_000}

RESPONSE_CLASSES = ("persuadable", "sure_thing", "lost_cause", "do_not_disturb")
# logit intercept and value sensitivity per response class
CLASS_INTERCEPT = {
    "persuadable": -1.9,
    "sure_thing": -0.3,
    "lost_cause": -4.2,
    "do_not_disturb": -4.5,
}
CLASS_VALUE_SLOPE = {
    "persuadable": 1.3,
    "sure_thing": 0.2,
    "lost_cause": 0.3,
    "do_not_disturb": 0.0,
}
# behaviour outside offers that shows the class (persuadables are deal seekers):
# Beta(a, b) of the chance to redeem points at a visit, and a factor on ticket sizes
CLASS_REDEEM_BETA = ((8.0, 2.0), (3.0, 3.0), (1.0, 5.0), (2.0, 4.0))
CLASS_TICKET_FACTOR = (0.6, 1.0, 1.0, 1.0)
CLASS_DATA_SHARING_SHARE = (0.7, 0.85, 0.35, 0.25)  # who lets partners see their data
AFFINITY_BONUS = 0.9
CLASS_ENGAGEMENT_WEIGHT = 2.5  # logit weight of (standardised) engagement on the class
PREF_RANDOM_SHARE = 0.1  # customers whose preferred offer type is idiosyncratic
ACCEPT_NOISE_SD = 0.15  # idiosyncratic logit noise of offer take-up
OFFER_TYPE_EFFECT = {
    "service_voucher": 0.0,
    "accessory_discount": -0.1,
    "bonus_points": 0.2,
    "upgrade_incentive": -1.6,
}


@dataclass(frozen=True)
class Scenario:
    """A named drift that changes the data from ``starts`` (snapped to its month start)."""

    name: str
    starts: pd.Timestamp


@dataclass(frozen=True)
class SimConfig:
    customers: int
    seed: int = 42
    start: pd.Timestamp = field(default_factory=lambda: pd.Timestamp(DEFAULT_START, tz="UTC"))
    months: int = DEFAULT_MONTHS
    scenarios: tuple[Scenario, ...] = ()

    @property
    def end(self) -> pd.Timestamp:
        return self.start + pd.DateOffset(months=self.months)


def parse_scenario(text: str, start: pd.Timestamp, months: int) -> Scenario:
    """``NAME`` or ``NAME@DATE``; without a date a scenario starts 60% into the history."""
    name, _, when = text.partition("@")
    name = name.strip()
    if name not in SCENARIOS:
        raise InputError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
    end = start + pd.DateOffset(months=months)
    if when:
        try:
            ts = pd.Timestamp(when)
        except ValueError as exc:
            raise InputError(f"scenario {text!r}: {when!r} is not an ISO date") from exc
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    else:
        ts = start + pd.DateOffset(months=round(months * 0.6))
    ts = ts.normalize().replace(day=1)
    if not start < ts < end:
        raise InputError(
            f"scenario {text!r} starts {ts.date()}, outside the simulated history "
            f"({start.date()} to {end.date()})"
        )
    return Scenario(name=name, starts=ts)


def make_config(
    customers: int,
    seed: int = 42,
    start: str = DEFAULT_START,
    months: int = DEFAULT_MONTHS,
    scenarios: list[str] | tuple[str, ...] = (),
) -> SimConfig:
    """Validate user-facing arguments into a SimConfig (errors name the argument)."""
    if customers < 1:
        raise InputError(f"--customers must be at least 1, got {customers}")
    if not 6 <= months <= 120:
        raise InputError(f"--months must be between 6 and 120, got {months}")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", start):
        raise InputError(f"--start must be an ISO date (YYYY-MM-DD), got {start!r}")
    start_ts = pd.Timestamp(start, tz="UTC").replace(day=1)
    parsed = tuple(parse_scenario(s, start_ts, months) for s in scenarios)
    names = [s.name for s in parsed]
    if len(set(names)) != len(names):
        raise InputError(f"each scenario may be given once, got {names}")
    return SimConfig(
        customers=customers, seed=seed, start=start_ts, months=months, scenarios=parsed
    )
