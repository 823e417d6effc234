"""Monthly piecewise-constant rates: the one definition the generator and the truth share.

Within a calendar month a customer's visit rate and lapse hazard are constant, which makes both
simulation (Poisson counts, uniform times) and the truth (closed-form survival) exact.
"""

from __future__ import annotations

import numpy as np

from simulator import config as params
from simulator.population import NEW_PRODUCT_IDX, OFFER_TYPES, Population
from simulator.world import World


def _col(values: np.ndarray, month: np.ndarray) -> np.ndarray:
    """Shape a per-customer array to broadcast against ``month`` ((n,) or (n, k))."""
    return values[:, None] if month.ndim == 2 else values


def product_state(world: World, pop: Population, month: np.ndarray) -> tuple[np.ndarray, ...]:
    """(is the launched model, product age in years) in each month."""
    change = _col(pop.change_month, month)
    changed = (change >= 0) & (month >= change)
    new = changed | (_col(pop.product0, month) == NEW_PRODUCT_IDX)
    change_year = world.calendar_year[np.clip(change, 0, None)]
    year = np.where(changed, change_year, _col(pop.product_year0, month))
    age = world.calendar_year[month] - year
    return new, age


def visit_rate(world: World, pop: Population, month: np.ndarray) -> np.ndarray:
    """Qualifying visits per day while the customer is active."""
    new, age = product_state(world, pop, month)
    partner = _col(pop.partner_idx, month)
    ageing = np.maximum(
        0.5, 1 - params.PRODUCT_AGE_VISIT_SLOPE * np.maximum(0, age - params.PRODUCT_AGE_FREE_YEARS)
    )
    honest = (
        _col(pop.base_visit, month)
        * world.season[month]
        * world.visit_factor[partner, month]
        * ageing
        * np.where(new, params.NEW_PRODUCT_VISIT_FACTOR, 1.0)
    )
    return np.where(_col(pop.abuser, month), _col(pop.base_visit, month), honest)


def natural_hazard(world: World, pop: Population, month: np.ndarray) -> np.ndarray:
    """Lapse hazard per day, without the abuse confirmation that closes an account."""
    new, age = product_state(world, pop, month)
    partner = _col(pop.partner_idx, month)
    ageing = 1 + params.PRODUCT_AGE_HAZARD_SLOPE * np.maximum(
        0, age - params.PRODUCT_AGE_FREE_YEARS
    )
    return (
        _col(pop.base_hazard, month)
        * world.hazard_factor[partner, month]
        * ageing
        * np.where(new, params.NEW_PRODUCT_HAZARD_FACTOR, 1.0)
    )


def complaint_rate(world: World, pop: Population, month: np.ndarray) -> np.ndarray:
    """Complaints per day: more frequent where the lapse hazard is high (a warning sign)."""
    base = params.LAPSES_PER_YEAR / 365
    relative = natural_hazard(world, pop, month) / base
    return (params.COMPLAINTS_PER_YEAR / 365) * relative**0.7


def accept_probability(world: World, pop: Population, offer_idx: np.ndarray) -> np.ndarray:
    """Chance an active customer takes up an offer at a contact (before any timing)."""
    offers = world.offers
    klass = pop.response_class
    intercept = np.array([params.CLASS_INTERCEPT[k] for k in params.RESPONSE_CLASSES])[klass]
    slope = np.array([params.CLASS_VALUE_SLOPE[k] for k in params.RESPONSE_CLASSES])[klass]
    otype = offers["offer_type"].map(OFFER_TYPES.index).to_numpy()[offer_idx]
    value = offers["value"].to_numpy()[offer_idx]
    type_effect = np.array([params.OFFER_TYPE_EFFECT[t] for t in OFFER_TYPES])[otype]
    logit = (
        intercept
        + slope * np.log(value / 25.0)
        + type_effect
        + params.AFFINITY_BONUS * (otype == pop.pref_type)
        + pop.accept_noise
    )
    return 1 / (1 + np.exp(-logit))


def dnd_lapse_probability(pop: Population) -> np.ndarray:
    """Chance a contact makes this customer lapse on the spot (do-not-disturb only)."""
    dnd = pop.response_class == params.RESPONSE_CLASSES.index("do_not_disturb")
    return np.where(dnd, params.DND_LAPSE_PER_CONTACT, 0.0)
