"""Lapse, abuse confirmation and campaign contacts with their responses.

Lapse is absorbing: after it a customer makes no qualifying activity. A lapse comes from the
natural hazard, from a contact to a do-not-disturb customer, or (abusers) from confirmation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator import config as params
from simulator import rates
from simulator.population import Population
from simulator.world import World


def natural_lapse_day(world: World, pop: Population, rng: np.random.Generator) -> np.ndarray:
    """First time the cumulative natural hazard since enrolment exceeds an Exp(1) draw."""
    n_months = len(world.month_bounds) - 1
    months = np.broadcast_to(np.arange(n_months), (len(pop), n_months))
    hazard = rates.natural_hazard(world, pop, months)
    lo = np.maximum(world.month_bounds[:-1][None, :], pop.enroll_day[:, None])
    exposure = np.clip(world.month_bounds[1:][None, :] - lo, 0, None)
    cum = np.cumsum(hazard * exposure, axis=1)
    threshold = rng.exponential(1.0, len(pop))
    month = (cum < threshold[:, None]).sum(axis=1)
    lapsed = month < n_months
    m = np.minimum(month, n_months - 1)
    rows = np.arange(len(pop))
    before = np.where(m > 0, cum[rows, np.maximum(m - 1, 0)], 0.0)
    day = lo[rows, m] + (threshold - before) / hazard[rows, m]
    return np.where(lapsed, day, np.inf)


def confirmation_day(pop: Population, rng: np.random.Generator) -> np.ndarray:
    """When the fraud team confirms an abuser (inf for honest accounts)."""
    wait = rng.exponential(1.0, len(pop)) / np.where(pop.detect_rate > 0, pop.detect_rate, 1.0)
    return np.where(pop.abuser, pop.enroll_day + wait, np.inf)


@dataclass
class Contacts:
    cust: np.ndarray  # customer position in the chunk
    day: np.ndarray
    offer_idx: np.ndarray
    dnd_trigger: np.ndarray  # this contact would make a do-not-disturb customer lapse


def campaign_contacts(
    world: World, pop: Population, closed_day: np.ndarray, rng: np.random.Generator
) -> Contacts:
    """Every contact of every campaign: enrolled, consenting, open accounts, sampled at random."""
    parts = []
    dnd = rates.dnd_lapse_probability(pop)
    for camp in world.campaigns.itertuples(index=False):
        eligible = (
            (pop.partner_idx == camp.contract_idx)
            & (pop.enroll_day < camp.day)
            & pop.marketing_consent
            & (pop.withdraw_day > camp.day)
            & (closed_day > camp.day)
        )
        cust = np.flatnonzero(eligible & (rng.random(len(pop)) < camp.target_fraction))
        trigger = rng.random(len(cust)) < dnd[cust]
        parts.append(
            (cust, np.full(len(cust), camp.day), np.full(len(cust), camp.offer_idx), trigger)
        )
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return Contacts(empty, empty.astype(float), empty, empty.astype(bool))
    cust, day, offer, trigger = (np.concatenate(x) for x in zip(*parts, strict=True))
    return Contacts(cust, day, offer.astype(np.int64), trigger)


def dnd_lapse_day(contacts: Contacts, n: int) -> np.ndarray:
    """Earliest contact that makes each do-not-disturb customer lapse (inf if none)."""
    out = np.full(n, np.inf)
    hit = contacts.dnd_trigger
    np.minimum.at(out, contacts.cust[hit], contacts.day[hit])
    return out


@dataclass
class Responses:
    redeemed: np.ndarray  # contact index
    redeem_day: np.ndarray
    declined: np.ndarray
    decline_day: np.ndarray
    decline_reason: np.ndarray  # 0 do_not_disturb, 1 not_interested


def respond(
    world: World,
    pop: Population,
    contacts: Contacts,
    lapse_day: np.ndarray,
    end_day: float,
    rng: np.random.Generator,
) -> Responses:
    """Redemptions and explicit declines; only customers active at the contact respond."""
    sub = pop.take(contacts.cust)
    p = rates.accept_probability(world, sub, contacts.offer_idx)
    valid = world.offers["valid_days"].to_numpy()[contacts.offer_idx]
    active = lapse_day[contacts.cust] > contacts.day
    accept = active & (rng.random(len(p)) < p)
    redeem_at = contacts.day + rng.exponential(params.OFFER_ACCEPT_DELAY_DAYS, len(p))
    redeems = accept & (redeem_at - contacts.day <= valid) & (redeem_at < lapse_day[contacts.cust])
    redeems &= redeem_at < end_day
    decline_at = contacts.day + rng.exponential(2.0, len(p))
    share = np.asarray(params.CLASS_DECLINE_SHARE)[sub.response_class]
    says_no = active & ~accept & (rng.random(len(p)) < share)
    says_no &= (decline_at - contacts.day <= valid) & (decline_at < lapse_day[contacts.cust])
    # a do-not-disturb contact that drives the customer away answers with a decline at once
    triggered = contacts.dnd_trigger & (lapse_day[contacts.cust] == contacts.day)
    decline_at = np.where(triggered, contacts.day + 1 / 24, decline_at)
    declines = (says_no | triggered) & (decline_at < end_day)
    return Responses(
        redeemed=np.flatnonzero(redeems),
        redeem_day=redeem_at[redeems],
        declined=np.flatnonzero(declines),
        decline_day=decline_at[declines],
        decline_reason=np.where(triggered[declines], 0, 1).astype(np.int8),
    )


def poisson_times(
    rate: np.ndarray, lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Event times of per-cell Poisson processes: rate, lo and hi are (customers, months) arrays."""
    exposure = np.clip(hi - lo, 0, None)
    counts = rng.poisson(rate * exposure)
    cell = np.repeat(np.arange(counts.size), counts.ravel())
    cust = cell // counts.shape[1]
    start = lo.ravel()[cell]
    day = start + rng.random(len(cell)) * exposure.ravel()[cell]
    return cust, _business_hours(day, start, start + exposure.ravel()[cell])


def _business_hours(day: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Map times onto 08:00-20:00 of their day where the whole day lies inside the cell.

    The map keeps each time within its calendar day, so counts per day (and hence the exact
    truth for day-aligned windows) are unchanged; partial days keep their uniform times.
    """
    whole = np.floor(day)
    inside = (whole >= lo) & (whole + 1 <= hi)
    return np.where(inside, whole + 8 / 24 + (day - whole) * 0.5, day)
