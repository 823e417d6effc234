"""One chunk of customers -> their canonical events and their latent truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from simulator import activity, lifecycle, rates
from simulator import config as params
from simulator.eventlog import CHANNELS, EventColumns, code, to_table
from simulator.population import PRODUCT_NAMES, Population, draw_population
from simulator.world import _PARTNERS, World

SECOND = 1 / 86_400
_ENROL_CHANNEL = np.array([code(CHANNELS, c) for c in ("dealer", "web", "app", "dealer")], np.int8)


def dictionaries(world: World) -> dict[str, tuple[str, ...]]:
    """Labels for the coded columns; codes are positions in these tuples."""
    dealers = tuple(f"{p[0]}-D{d:03d}" for p in _PARTNERS for d in range(p[3]))
    return {
        "partner_id": tuple(p[0] for p in _PARTNERS),
        "contract_id": tuple(f"C-{p[0]}" for p in _PARTNERS),
        "offer_id": tuple(world.offers["offer_id"]),
        "dealer_id": dealers,
        "product_model": PRODUCT_NAMES,
    }


def _dealer_offsets() -> np.ndarray:
    return np.r_[0, np.cumsum([p[3] for p in _PARTNERS])[:-1]].astype(np.int16)


def _enrolment_events(
    ev: EventColumns, pop: Population, world: World, lapse: np.ndarray, closed: np.ndarray
) -> None:
    n = np.arange(len(pop))
    dealer = _dealer_offsets()[pop.partner_idx] + pop.home_dealer
    home = {"partner_id": pop.partner_idx, "contract_id": pop.partner_idx}
    ev.add(
        n,
        pop.enroll_day,
        "enrollment",
        tier=0,
        channel=_ENROL_CHANNEL[pop.acquisition],
        dealer_id=dealer,
        **home,
    )
    ev.add(
        n,
        pop.enroll_day + 60 * SECOND,
        "product_registered",
        product_model=pop.product0,
        product_year=pop.product_year0,
        dealer_id=dealer,
        channel=code(CHANNELS, "dealer"),
        **home,
    )
    for scope, granted in ((0, pop.marketing_consent), (1, pop.data_sharing)):
        ev.add(
            n,
            pop.enroll_day + 120 * SECOND,
            "consent_changed",
            consent_scope=scope,
            consent_granted=granted.astype(np.int8),
            channel=code(CHANNELS, "web"),
            **home,
        )
    gone = np.isfinite(pop.withdraw_day) & (pop.withdraw_day < closed)
    ev.add(
        n[gone],
        pop.withdraw_day[gone],
        "consent_changed",
        consent_scope=0,
        consent_granted=0,
        channel=code(CHANNELS, "web"),
        partner_id=pop.partner_idx[gone],
        contract_id=pop.partner_idx[gone],
    )
    switch = np.flatnonzero(pop.change_month >= 0)
    when = world.month_bounds[pop.change_month[switch]] + 3 * (n[switch] % 97) / 97
    switch, when = switch[when < lapse[switch]], when[when < lapse[switch]]
    ev.add(
        switch,
        when,
        "product_registered",
        product_model=len(PRODUCT_NAMES) - 1,
        product_year=world.calendar_year[pop.change_month[switch]],
        dealer_id=dealer[switch],
        channel=code(CHANNELS, "dealer"),
        partner_id=pop.partner_idx[switch],
        contract_id=pop.partner_idx[switch],
    )


def _visit_events(
    ev: EventColumns,
    world: World,
    pop: Population,
    v: activity.Visits,
    bonus: tuple[np.ndarray, ...],
    closed: np.ndarray,
    rng: np.random.Generator,
) -> None:
    dealer = _dealer_offsets()[v.partner] + v.dealer
    purchase_channel = np.array([code(CHANNELS, c) for c in ("dealer", "web", "app")], np.int8)
    channel = np.where(
        v.is_service,
        code(CHANNELS, "service_center"),
        purchase_channel[rng.choice(3, len(v.cust), p=[0.7, 0.2, 0.1])],
    )
    place = {
        "partner_id": v.partner,
        "contract_id": v.partner,
        "dealer_id": dealer,
        "channel": channel,
    }
    s = v.is_service
    ev.add(
        v.cust[s],
        v.day[s],
        "service_visit",
        amount=v.amount[s],
        **{k: x[s] for k, x in place.items()},
    )
    ev.add(
        v.cust[~s],
        v.day[~s],
        "purchase",
        amount=v.amount[~s],
        **{k: x[~s] for k, x in place.items()},
    )
    ev.add(v.cust, v.day + SECOND, "points_accrued", points=v.points, **place)
    b_cust, b_day, b_points, _b_contract = bonus
    cust = np.r_[v.cust, b_cust]
    day = np.r_[v.day, b_day]
    red = activity.run_ledger(
        cust,
        np.r_[v.day + SECOND, b_day],  # when the points move: the accrual events' times
        np.r_[v.points, b_points],
        np.r_[np.ones(len(v.cust), bool), np.zeros(len(b_cust), bool)],
        pop,
        rng,
        redeem_lag=SECOND,
    )
    at = red.entry  # ledger entries that are visits (bonus entries never redeem)
    ev.add(
        v.cust[at],
        v.day[at] + 2 * SECOND,
        "points_redeemed",
        points=red.points,
        **{k: x[at] for k, x in place.items()},
    )
    # the balance expires after POINTS_EXPIRY_INACTIVE_DAYS without points movement; a closed
    # account's points go with it, so nothing expires after a closure
    kept = red.expired_day < closed[red.expired_cust]
    e_cust = red.expired_cust[kept]
    ev.add(
        e_cust,
        red.expired_day[kept],
        "points_expired",
        points=red.expired_points[kept],
        partner_id=pop.partner_idx[e_cust],
        contract_id=pop.partner_idx[e_cust],
        channel=code(CHANNELS, "system"),
    )
    t_cust, t_day, t_tier = activity.tier_changes(
        world, pop, cust, day, np.r_[v.points, b_points].astype(float), closed
    )
    ev.add(t_cust, t_day, "tier_changed", tier=t_tier, channel=code(CHANNELS, "system"))


def _offer_events(
    ev: EventColumns,
    world: World,
    pop: Population,
    contacts: lifecycle.Contacts,
    resp: lifecycle.Responses,
) -> tuple[np.ndarray, ...]:
    offers = world.offers
    contract = offers["contract_idx"].to_numpy()[contacts.offer_idx]
    ochannel = np.array([code(CHANNELS, c) for c in offers["channel"]], np.int8)[contacts.offer_idx]
    keys = ev.add(
        contacts.cust,
        contacts.day,
        "offer_sent",
        offer_id=contacts.offer_idx,
        partner_id=contract,
        contract_id=contract,
        channel=ochannel,
    )
    r = resp.redeemed
    value = offers["value"].to_numpy()[contacts.offer_idx[r]]
    cost = offers["points_cost"].to_numpy()[contacts.offer_idx[r]]
    ev.add(
        contacts.cust[r],
        resp.redeem_day,
        "offer_redeemed",
        offer_id=contacts.offer_idx[r],
        partner_id=contract[r],
        contract_id=contract[r],
        ref_key=keys[r],
        amount=value,
        points=cost,
        channel=code(CHANNELS, "dealer"),
    )
    d = resp.declined
    ev.add(
        contacts.cust[d],
        resp.decline_day,
        "offer_declined",
        offer_id=contacts.offer_idx[d],
        partner_id=contract[d],
        contract_id=contract[d],
        ref_key=keys[d],
        channel=ochannel[d],
        reason=resp.decline_reason,
    )
    bonus = offers["offer_type"].to_numpy()[contacts.offer_idx[r]] == "bonus_points"
    ev.add(
        contacts.cust[r][bonus],
        resp.redeem_day[bonus] + SECOND,
        "points_accrued",
        points=cost[bonus],
        partner_id=contract[r][bonus],
        contract_id=contract[r][bonus],
        channel=code(CHANNELS, "system"),
        reason=-1,
    )
    return contacts.cust[r][bonus], resp.redeem_day[bonus] + SECOND, cost[bonus], contract[r][bonus]


def _risk_events(
    ev: EventColumns,
    world: World,
    pop: Population,
    lapse: np.ndarray,
    closed: np.ndarray,
    end: float,
    rng: np.random.Generator,
) -> None:
    n = len(pop)
    home = {"partner_id": pop.partner_idx, "contract_id": pop.partner_idx}
    active_until = np.minimum(np.minimum(lapse, closed), end)
    months = np.broadcast_to(np.arange(world.cfg.months), (n, world.cfg.months))
    lo = np.maximum(world.month_bounds[: world.cfg.months][None, :], pop.enroll_day[:, None])
    hi = np.minimum(world.month_bounds[1 : world.cfg.months + 1][None, :], active_until[:, None])
    c_cust, c_day = lifecycle.poisson_times(rates.complaint_rate(world, pop, months), lo, hi, rng)
    ev.add(
        c_cust,
        c_day,
        "complaint",
        channel=code(CHANNELS, "call_center"),
        reason=rng.integers(2, 5, len(c_cust)),
        **{k: x[c_cust] for k, x in home.items()},
    )
    # suspicion: half the abusers before confirmation, and a few honest accounts (later cleared)
    span = np.maximum(active_until - pop.enroll_day, 0)
    suspect = np.where(
        pop.abuser,
        rng.random(n) < 0.5,
        rng.random(n) < 1 - np.exp(-span * params.FALSE_SUSPICION_PER_YEAR / 365),
    )
    s_day = pop.enroll_day + rng.random(n) * span
    idx = np.flatnonzero(suspect & (s_day < active_until))
    ev.add(
        idx,
        s_day[idx],
        "account_flagged",
        flag_status=0,
        reason=5,
        channel=code(CHANNELS, "system"),
        **{k: x[idx] for k, x in home.items()},
    )
    cleared = idx[~pop.abuser[idx]]
    ev.add(
        cleared,
        s_day[cleared] + rng.uniform(7, 45, len(cleared)),
        "account_flagged",
        flag_status=2,
        reason=6,
        channel=code(CHANNELS, "system"),
        **{k: x[cleared] for k, x in home.items()},
    )
    hit = np.flatnonzero(np.isfinite(closed))
    ev.add(
        hit,
        closed[hit],
        "account_flagged",
        flag_status=1,
        reason=7,
        channel=code(CHANNELS, "system"),
        **{k: x[hit] for k, x in home.items()},
    )
    ev.add(
        hit,
        closed[hit] + 1 / 24,
        "account_closed",
        reason=7,
        channel=code(CHANNELS, "system"),
        **{k: x[hit] for k, x in home.items()},
    )


def generate_chunk(
    world: World, chunk: int, customer_ids: np.ndarray
) -> tuple[pa.Table, pd.DataFrame]:
    """Events (canonical Arrow table) and truth rows for one chunk of customers."""
    rng = np.random.default_rng([world.cfg.seed, chunk, 1])
    end = world.horizon_days
    pop = draw_population(world, rng, customer_ids)
    natural = lifecycle.natural_lapse_day(world, pop, rng)
    confirm = lifecycle.confirmation_day(pop, rng)
    closed = np.where(confirm < natural, confirm, np.inf)
    contacts = lifecycle.campaign_contacts(world, pop, closed, rng)
    lapse = np.minimum(np.minimum(natural, closed), lifecycle.dnd_lapse_day(contacts, len(pop)))
    resp = lifecycle.respond(world, pop, contacts, lapse, end, rng)
    ev = EventColumns()
    _enrolment_events(ev, pop, world, lapse, closed)
    bonus = _offer_events(ev, world, pop, contacts, resp)
    _visit_events(ev, world, pop, activity.visits(world, pop, lapse, end, rng), bonus, closed, rng)
    _risk_events(ev, world, pop, lapse, closed, end, rng)
    table = _finish(ev, world, pop, end)
    truth = pop.to_frame()
    truth["lapse_day"] = lapse
    truth["closed_day"] = closed
    return table, truth


def _finish(ev: EventColumns, world: World, pop: Population, end: float) -> pa.Table:
    cols = ev.concat()
    keep = np.flatnonzero(cols["day"] < end)
    order = keep[np.lexsort((cols["event_type"][keep], cols["day"][keep], cols["cust"][keep]))]
    cust = cols["cust"][order]
    first = np.r_[True, cust[1:] != cust[:-1]]
    rank = np.arange(len(cust)) - np.maximum.accumulate(np.where(first, np.arange(len(cust)), 0))
    customer_id = pop.customer_id[cust]
    event_id = customer_id * 100_000 + rank
    position = np.full(len(cols["day"]), -1, dtype=np.int64)
    position[order] = np.arange(len(order))
    ref = cols["ref_key"][order]
    ref_pos = np.where(ref >= 0, position[np.maximum(ref, 0)], -1)
    ref_event_id = np.where(ref_pos >= 0, event_id[np.maximum(ref_pos, 0)], -1)
    sorted_cols = {k: v[order] for k, v in cols.items()}
    return to_table(
        sorted_cols,
        event_id,
        ref_event_id,
        customer_id,
        world.day_to_timestamp_us(sorted_cols["day"]),
        dictionaries(world),
    )
