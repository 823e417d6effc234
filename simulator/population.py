"""Customers and their latent state: engagement, response class, consent, product, abuse.

The parameters drawn here are the parametric truth: together with the world they determine every
rate the generator uses and every probability the truth functions return.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from simulator import config as params
from simulator.world import (
    ACQUISITION,
    NEW_PRODUCT,
    ONBOARDING_ENROLMENT_SHARE,
    ONBOARDING_PARTNER,
    PRODUCTS,
    REGIONS,
    SERVICE_NETWORK,
    World,
)

PRODUCT_NAMES = (*PRODUCTS, NEW_PRODUCT)
NEW_PRODUCT_IDX = len(PRODUCTS)
OFFER_TYPES = tuple(params.OFFER_TYPE_EFFECT)


@dataclass
class Population:
    customer_id: np.ndarray
    enroll_day: np.ndarray
    partner_idx: np.ndarray
    region: np.ndarray
    acquisition: np.ndarray
    birth_year: np.ndarray
    product0: np.ndarray
    product_year0: np.ndarray
    change_month: np.ndarray  # month the launched product replaces product0, -1 if never
    engagement: np.ndarray
    abuser: np.ndarray
    response_class: np.ndarray  # index into params.RESPONSE_CLASSES
    pref_type: np.ndarray  # index into OFFER_TYPES
    accept_noise: np.ndarray
    marketing_consent: np.ndarray  # granted at enrolment
    withdraw_day: np.ndarray  # marketing consent withdrawn (inf: never)
    data_sharing: np.ndarray
    home_dealer: np.ndarray
    collusion_dealer: np.ndarray
    redeem_propensity: np.ndarray
    base_visit: np.ndarray  # per day, before seasonal/product/partner factors
    base_hazard: np.ndarray  # per day, natural lapse hazard before factors
    detect_rate: np.ndarray  # per day, abuse confirmation hazard (0 for honest accounts)

    def __len__(self) -> int:
        return len(self.customer_id)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Population:
        return cls(**{f.name: frame[f.name].to_numpy() for f in fields(cls)})

    def take(self, idx: np.ndarray) -> Population:
        return Population(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


def _enrolment(world: World, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    end = world.horizon_days
    migrated = rng.random(n) < 0.35  # the existing base joins in the first weeks
    day = np.where(migrated, rng.uniform(0, 45, n), rng.uniform(0, end - 30, n))
    shares = world.partners["home_share"].to_numpy()  # partner_idx order; a newcomer has 0
    partner = rng.choice(len(shares), size=n, p=shares / shares.sum())
    late = (day >= world.onboarding_day) & (rng.random(n) < ONBOARDING_ENROLMENT_SHARE)
    partner = np.where(late, ONBOARDING_PARTNER, partner)
    return day, partner.astype(np.int16)


def _products(world: World, rng: np.random.Generator, day: np.ndarray, partner: np.ndarray):
    n = len(day)
    enrol_year = world.calendar_year[world.month_index(day)]
    trucks = partner == 2
    product = np.where(trucks, rng.choice([3, 4], n), rng.choice(3, n, p=[0.4, 0.35, 0.25]))
    age = np.minimum(np.floor(rng.exponential(3.0, n)), 15).astype(np.int16)
    year = (enrol_year - age).astype(np.int16)
    change = np.full(n, -1, dtype=np.int16)
    if world.launch_month >= 0:
        launch_day = world.month_bounds[world.launch_month]
        new_buyer = (day >= launch_day) & (rng.random(n) < 0.35) & ~trucks
        product = np.where(new_buyer, NEW_PRODUCT_IDX, product)
        year = np.where(new_buyer, enrol_year, year).astype(np.int16)
        switch = (day < launch_day) & (rng.random(n) < 0.15) & ~trucks
        change = np.where(switch, world.launch_month + rng.integers(0, 12, n), -1).astype(np.int16)
    return product.astype(np.int8), year, change


def _engagement_score(
    rng: np.random.Generator, acq: np.ndarray, age: np.ndarray, partner: np.ndarray
) -> np.ndarray:
    """Standardised engagement: part visible traits, part personal (about 0.55 of the variance).

    Fleet accounts and referred customers engage more, online sign-ups less; engagement grows
    with the customer's age; trucks (P03) are working vehicles and come in more often.
    """
    traits = (
        np.array([0.0, -0.6, 0.6, 1.0])[acq]
        + 0.6 * (age - 50) / 30
        + 0.6 * (partner == 2)
        - params.ENGAGEMENT_TRAIT_MEAN
    )
    return traits + params.ENGAGEMENT_IDIOSYNCRATIC_SD * rng.normal(0, 1, len(acq))


def _response_class(
    rng: np.random.Generator,
    z: np.ndarray,
    acq: np.ndarray,
    age: np.ndarray,
    product_age: np.ndarray,
    partner: np.ndarray,
    region: np.ndarray,
) -> np.ndarray:
    """Response class from traits a marketer sees: engagement, acquisition, age, product age.

    Engaged customers are mostly sure things, disengaged ones lost causes; fleet accounts and
    older customers rarely respond, referred customers readily; customers who joined online and
    young customers are the ones who resent contact; owners of old products and customers of the
    independent service network watch the value of an offer (persuadable).
    """
    online, referral, fleet = acq == 1, acq == 2, acq == 3
    w = params.CLASS_ENGAGEMENT_WEIGHT
    logits = np.stack(
        [
            5.5 * (product_age >= 6) + 4.0 * (partner == SERVICE_NETWORK) + 2.0 * (region == 2),
            w * z - 1.4 + 5.5 * referral - 7.0 * fleet + 2.0 * (region == 1),
            -0.7 * w * z - 1.4 + 8.0 * fleet + 5.5 * (age >= 65) + 2.0 * (region == 0),
            -6.0 + 7.0 * online + 4.0 * (age < 35),
        ],
        axis=1,
    )
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    u = rng.random(len(z))[:, None]
    return (u > np.cumsum(p, axis=1)).sum(axis=1).astype(np.int8)


# preferred offer type by product: compact, sedan, suv, van, pickup, ev_crossover
_PRODUCT_PREF = np.array([2, 1, 1, 0, 0, 1])


def _pref_type(
    rng: np.random.Generator, product: np.ndarray, age: np.ndarray, online: np.ndarray
) -> np.ndarray:
    """Preferred offer type, mostly from the product (its kind and age) and the channel."""
    n = len(product)
    pref = _PRODUCT_PREF[product]
    pref = np.where(age >= 5, 0, pref)  # an ageing product needs service
    pref = np.where(age >= 9, 3, pref)  # an old one is due for replacement
    pref = np.where(online, 2, pref)  # app users collect points
    random = rng.random(n) < params.PREF_RANDOM_SHARE
    pref = np.where(random, rng.integers(0, len(OFFER_TYPES), n), pref)
    return pref.astype(np.int8)


def _redeem_propensity(rng: np.random.Generator, klass: np.ndarray) -> np.ndarray:
    """Chance of redeeming points at a visit when the balance allows: deal seekers (persuadables)
    cash in at once, sure things often, lost causes and do-not-disturbs let points pile up."""
    a, b = (np.array(x)[klass] for x in zip(*params.CLASS_REDEEM_BETA, strict=True))
    return rng.beta(a, b)


def draw_population(world: World, rng: np.random.Generator, customer_ids: np.ndarray) -> Population:
    """Latent state of the given customers (one chunk)."""
    n = len(customer_ids)
    day, partner = _enrolment(world, rng, n)
    region = rng.integers(0, len(REGIONS), n).astype(np.int8)
    region = np.where(partner == ONBOARDING_PARTNER, rng.choice([0, 4], n), region).astype(np.int8)
    acq = rng.choice(len(ACQUISITION), n, p=[0.45, 0.3, 0.15, 0.1]).astype(np.int8)
    product, year, change = _products(world, rng, day, partner)
    enrol_year = world.calendar_year[world.month_index(day)]
    birth_year = rng.integers(1945, 2004, n).astype(np.int16)
    z = _engagement_score(rng, acq, enrol_year - birth_year, partner)
    engagement = np.exp(params.ENGAGEMENT_SIGMA * z) * np.where(
        partner == ONBOARDING_PARTNER, 1.2, 1.0
    )
    abuser = rng.random(n) < params.ABUSER_SHARE
    online = acq == 1
    age = enrol_year - birth_year
    klass = _response_class(rng, z, acq, age, enrol_year - year, partner, region)
    klass = np.where(abuser, 1, klass).astype(np.int8)
    pref = _pref_type(rng, product, enrol_year - year, online)
    consent = rng.random(n) < np.where(online, 0.85, params.MARKETING_CONSENT_SHARE)
    withdraw = np.where(
        consent, day + rng.exponential(365 / params.CONSENT_WITHDRAWALS_PER_YEAR, n), np.inf
    )
    dealers = world.partners.set_index("partner_idx")["n_dealers"].reindex(range(5)).fillna(1)
    home_dealer = np.floor(rng.random(n) * dealers.to_numpy()[partner]).astype(np.int16)
    acq_factor = np.array([1.0, 1.25, 0.8, 1.1])[acq]
    region_factor = np.array([0.9, 1.1, 1.0, 1.05, 0.95])[region]
    hazard = (
        (params.LAPSES_PER_YEAR / 365) * engagement**params.HAZARD_ENGAGEMENT_EXPONENT * acq_factor
    )
    return Population(
        customer_id=np.asarray(customer_ids, dtype=np.int64),
        enroll_day=day,
        partner_idx=partner,
        region=region,
        acquisition=acq,
        birth_year=birth_year,
        product0=product,
        product_year0=year,
        change_month=change,
        engagement=engagement,
        abuser=abuser,
        response_class=klass,
        pref_type=pref,
        accept_noise=rng.normal(0, params.ACCEPT_NOISE_SD, n),
        marketing_consent=consent,
        withdraw_day=withdraw,
        data_sharing=rng.random(n) < np.asarray(params.CLASS_DATA_SHARING_SHARE)[klass],
        home_dealer=home_dealer,
        collusion_dealer=rng.integers(0, 3, n).astype(np.int16),
        redeem_propensity=np.where(abuser, 0.9, _redeem_propensity(rng, klass)),
        base_visit=np.where(
            abuser, params.ABUSER_VISITS_PER_YEAR, params.VISITS_PER_YEAR * engagement
        )
        / 365,
        base_hazard=hazard * region_factor * np.where(abuser, 0.5, 1.0),
        detect_rate=np.where(abuser, params.ABUSER_DETECTION_PER_YEAR / 365, 0.0),
    )
