"""Visits, the points ledger and tier reviews.

Points are a running balance per customer, so redemption and expiry decisions are made in time
order: the loop runs over each customer's k-th ledger entry, vectorised across customers, which
keeps the balance exact (never negative, redemptions never above the balance, an expiry takes
exactly what is left) at numpy speed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator import config as params
from simulator import rates
from simulator.lifecycle import poisson_times
from simulator.population import Population
from simulator.world import SERVICE_NETWORK, World


@dataclass
class Visits:
    cust: np.ndarray
    day: np.ndarray
    is_service: np.ndarray
    amount: np.ndarray
    partner: np.ndarray
    dealer: np.ndarray  # dealer number within the visit's partner
    points: np.ndarray  # accrued at the visit


def visits(
    world: World, pop: Population, lapse_day: np.ndarray, end_day: float, rng: np.random.Generator
) -> Visits:
    """Qualifying visits between enrolment and lapse, Poisson within each month."""
    n_months = world.cfg.months
    months = np.broadcast_to(np.arange(n_months), (len(pop), n_months))
    rate = rates.visit_rate(world, pop, months)
    lo = np.maximum(world.month_bounds[:n_months][None, :], pop.enroll_day[:, None])
    hi = np.minimum(
        world.month_bounds[1 : n_months + 1][None, :], np.minimum(lapse_day, end_day)[:, None]
    )
    cust, day = poisson_times(rate, lo, hi, rng)
    n = len(cust)
    abuser = pop.abuser[cust]
    is_service = np.where(abuser, rng.random(n) < 0.1, rng.random(n) < params.SERVICE_SHARE)
    # engaged customers buy more per visit (more work done, more accessories): a second view of
    # their engagement besides how often they come; price-sensitive persuadables buy less
    scale = (
        pop.engagement[cust] ** params.ENGAGEMENT_TICKET_EXPONENT
        * np.asarray(params.CLASS_TICKET_FACTOR)[pop.response_class[cust]]
    )
    amount = np.where(
        abuser,
        rng.uniform(20, 80, n),
        scale
        * np.where(
            is_service, rng.lognormal(np.log(220), 0.4, n), rng.lognormal(np.log(140), 0.5, n)
        ),
    )
    partner = pop.partner_idx[cust].astype(np.int16)
    elsewhere = is_service & ~abuser & (partner != SERVICE_NETWORK) & (rng.random(n) < 0.15)
    partner = np.where(elsewhere, SERVICE_NETWORK, partner)
    n_dealers = world.partners.set_index("partner_idx")["n_dealers"].reindex(range(5)).fillna(1)
    random_dealer = np.floor(rng.random(n) * n_dealers.to_numpy()[partner]).astype(np.int16)
    at_home = ~elsewhere & (rng.random(n) < 0.8)
    dealer = np.where(at_home, pop.home_dealer[cust], random_dealer)
    colluding = abuser & (rng.random(n) < 0.95)
    dealer = np.where(colluding, pop.collusion_dealer[cust], dealer)
    month = world.month_index(day)
    earn = world.earn_rate[partner, month]
    points = np.floor(amount * earn).astype(np.int64) * np.where(
        colluding, params.ABUSER_COLLUSION_BONUS, 1
    )
    order = np.lexsort((day, cust))
    return Visits(
        cust[order],
        day[order],
        is_service[order],
        amount[order],
        partner[order],
        dealer[order],
        points[order],
    )


@dataclass
class Ledger:
    """What the points ledger did: redemptions at visits and expiries after inactivity."""

    entry: np.ndarray  # redemptions: index into the ledger entries
    points: np.ndarray
    expired_cust: np.ndarray  # expiries: customer position, day and the points that lapsed
    expired_day: np.ndarray
    expired_points: np.ndarray


def run_ledger(
    cust: np.ndarray,
    day: np.ndarray,
    accrual: np.ndarray,
    can_redeem: np.ndarray,
    pop: Population,
    rng: np.random.Generator,
    expiry_days: int = params.POINTS_EXPIRY_INACTIVE_DAYS,
    redeem_lag: float = 0.0,
) -> Ledger:
    """Walk each customer's entries in time order; redeem at visits when the balance allows.

    Every entry (an accrual at ``day``, and a redemption ``redeem_lag`` days later when the
    customer redeems there) moves points. The whole balance expires at the end of the day
    ``expiry_days`` after the day of the latest movement (00:00 of the day after that) unless
    another movement comes first; the balance left after a customer's last entry expires the
    same way, and the caller drops expiries after the history's end or an account's closure.
    Expiry draws nothing: the random stream is the same as without it.
    """
    order = np.lexsort((day, cust))
    cust_o, day_o, acc_o, can_o = cust[order], day[order], accrual[order], can_redeem[order]
    first = np.r_[True, cust_o[1:] != cust_o[:-1]]
    start_of = np.maximum.accumulate(np.where(first, np.arange(len(cust_o)), 0))
    rank = np.arange(len(cust_o)) - start_of
    balance = np.zeros(len(pop), dtype=np.int64)
    last = np.full(len(pop), -np.inf)  # time of each customer's latest points movement
    minimum = np.where(pop.abuser, params.ABUSER_REDEEM_MIN_POINTS, params.REDEEM_MIN_POINTS)
    u_decide = rng.random(len(cust_o))
    u_share = rng.uniform(0.5, 1.0, len(cust_o))
    by_rank = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[by_rank], np.arange(rank.max(initial=-1) + 2))
    redeemed_at, redeemed_pts = [], []
    exp_cust, exp_day, exp_pts = [], [], []
    for k in range(len(bounds) - 1):
        idx = by_rank[bounds[k] : bounds[k + 1]]
        c = cust_o[idx]  # one entry per customer at each rank: no repeated index below
        expires = np.floor(last[c]) + expiry_days + 1
        hit = (day_o[idx] > expires) & (balance[c] > 0)
        dormant = c[hit]
        exp_cust.append(dormant)
        exp_day.append(expires[hit])
        exp_pts.append(balance[dormant])
        balance[dormant] = 0
        last[c] = day_o[idx]
        balance[c] += acc_o[idx]
        go = can_o[idx] & (balance[c] >= minimum[c]) & (u_decide[idx] < pop.redeem_propensity[c])
        amount = (np.floor(balance[c] * u_share[idx] / 100) * 100).astype(np.int64)
        amount = np.clip(amount, minimum[c], balance[c])
        go &= amount > 0
        balance[c[go]] -= amount[go]
        last[c[go]] += redeem_lag
        redeemed_at.append(idx[go])
        redeemed_pts.append(amount[go])
    tail = np.flatnonzero(balance > 0)
    exp_cust.append(tail)
    exp_day.append(np.floor(last[tail]) + expiry_days + 1)
    exp_pts.append(balance[tail])
    at = np.concatenate(redeemed_at) if redeemed_at else np.empty(0, dtype=np.int64)
    pts = np.concatenate(redeemed_pts) if redeemed_pts else np.empty(0, dtype=np.int64)
    return Ledger(
        entry=order[at],
        points=pts,
        expired_cust=np.concatenate(exp_cust).astype(np.int64),
        expired_day=np.concatenate(exp_day).astype(np.float64),
        expired_points=np.concatenate(exp_pts).astype(np.int64),
    )


def tier_changes(
    world: World,
    pop: Population,
    cust: np.ndarray,
    day: np.ndarray,
    accrual: np.ndarray,
    closed_day: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Quarterly reviews: tier = highest threshold met by points accrued in the trailing year."""
    thresholds = np.array(list(params.TIER_THRESHOLDS.values()))
    current = np.zeros(len(pop), dtype=np.int8)
    out_cust, out_day, out_tier = [], [], []
    end = world.horizon_days
    for q in world.month_bounds[3 : world.cfg.months + 1 : 3]:
        if q >= end:
            break
        window = (day > q - 365) & (day <= q)
        earned = np.bincount(cust[window], weights=accrual[window], minlength=len(pop))
        tier = (np.searchsorted(thresholds, earned, side="right") - 1).astype(np.int8)
        change = (tier != current) & (pop.enroll_day < q) & (closed_day > q)
        idx = np.flatnonzero(change)
        out_cust.append(idx)
        out_day.append(np.full(len(idx), q + 2 / 24))
        out_tier.append(tier[idx])
        current = np.where(change, tier, current)
    if not out_cust:
        return np.empty(0, np.int64), np.empty(0), np.empty(0, np.int8)
    return np.concatenate(out_cust), np.concatenate(out_day), np.concatenate(out_tier)
