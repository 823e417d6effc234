"""Points expiry: the simulator's rule, and the features' balance that accounts for it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from features.customer import compute_features
from features.timeline import Timeline
from simulator.activity import run_ledger
from simulator.config import POINTS_EXPIRY_INACTIVE_DAYS, make_config
from simulator.population import draw_population
from simulator.world import build_world

MOVES = ["points_accrued", "points_redeemed", "points_expired"]
# the end of the day POINTS_EXPIRY_INACTIVE_DAYS after the day of the latest movement
EXPIRY_AFTER = pd.Timedelta(days=POINTS_EXPIRY_INACTIVE_DAYS + 1)


def _population(n: int, redeem_propensity: list[float]):
    world = build_world(make_config(n, seed=5))
    pop = draw_population(world, np.random.default_rng(0), np.arange(n))
    return dataclasses.replace(
        pop, abuser=np.zeros(n, bool), redeem_propensity=np.asarray(redeem_propensity, float)
    )


def test_ledger_expires_the_whole_balance_after_a_year_without_movement() -> None:
    pop = _population(3, [0.0, 0.0, 1.0])
    cust = np.array([0, 0, 0, 1, 1, 2])
    day = np.array([0.5, 100.2, 500.7, 10.3, 300.9, 20.75])
    points = np.array([100, 200, 50, 700, 0, 1000])
    can_redeem = np.array([True, True, True, True, True, True])
    out = run_ledger(cust, day, points, can_redeem, pop, np.random.default_rng(1), redeem_lag=0.5)
    # customer 2 redeems at its only visit, half a day later (past midnight): the clock
    # restarts on the redemption's day
    assert out.entry.tolist() == [5]
    assert 500 <= out.points[0] < 1000
    got = sorted(
        zip(
            out.expired_cust.tolist(),
            out.expired_day.tolist(),
            out.expired_points.tolist(),
            strict=True,
        )
    )
    expected = [
        (0, 100 + 366.0, 300),  # 400 days silent after day 100: 100 + 200 expire on day 466
        (0, 500 + 366.0, 50),  # what the last visit left
        (1, 300 + 366.0, 700),  # a visit earning nothing still restarts the clock
        (2, 21 + 366.0, 1000 - int(out.points[0])),
    ]
    assert got == sorted(expected)


def test_ledger_without_gaps_expires_nothing_before_the_last_entry() -> None:
    pop = _population(1, [0.0])
    day = np.arange(0.0, 1000.0, 300.0)  # every 300 days: never a year of silence
    out = run_ledger(
        np.zeros(len(day), np.int64),
        day,
        np.full(len(day), 10),
        np.ones(len(day), bool),
        pop,
        np.random.default_rng(1),
    )
    assert out.expired_cust.tolist() == [0]
    assert out.expired_day.tolist() == [900.0 + 366]
    assert out.expired_points.tolist() == [40]


def test_simulated_expiries_follow_the_rule(sim_events: pd.DataFrame, sim_truth) -> None:
    pts = sim_events.loc[
        sim_events["event_type"].isin(MOVES),
        ["customer_id", "occurred_at", "event_id", "event_type", "points"],
    ].sort_values(["customer_id", "occurred_at", "event_id"])
    kind = pts["event_type"].astype(str)
    signed = np.where(kind == "points_accrued", 1, -1) * pts["points"].to_numpy()
    balance = pd.Series(signed, index=pts.index).groupby(pts["customer_id"].to_numpy()).cumsum()
    expired = kind == "points_expired"
    assert expired.sum() > 1000  # a 20k ecosystem: lapsed customers' balances expire
    assert (pts.loc[expired, "points"] > 0).all()
    assert (balance[expired] == 0).all()  # each expiry takes exactly the balance left
    assert balance.min() >= 0
    previous = pts.groupby("customer_id")["occurred_at"].shift()
    assert (previous[expired].notna()).all()
    assert (pts.loc[expired, "occurred_at"] == previous[expired].dt.floor("D") + EXPIRY_AFTER).all()
    # nothing left dormant: a balance still held at the end had a movement within the rule's
    # reach of the end, or its account was closed (closed accounts' points go with them)
    last = pts.groupby("customer_id").tail(1)
    held = last[balance[last.index] > 0]
    end = sim_truth.world.cfg.end
    closed = sim_events.loc[sim_events["event_type"] == "account_closed", "customer_id"]
    late = held[held["occurred_at"].dt.floor("D") + EXPIRY_AFTER < end]
    assert late["customer_id"].isin(closed).all()
    assert len(held) > 0


def test_points_balance_feature_matches_the_log_with_expiries(sim_events: pd.DataFrame) -> None:
    as_of = pd.Timestamp("2025-09-01", tz="UTC")
    expired = sim_events[
        (sim_events["event_type"] == "points_expired") & (sim_events["occurred_at"] < as_of)
    ]
    ids = np.sort(expired["customer_id"].unique())[:300]
    assert len(ids) == 300
    log = sim_events[sim_events["customer_id"].isin(ids)]
    got = compute_features(Timeline(log), ids, as_of).set_index("customer_id")["points_balance"]
    before = log[(log["occurred_at"] < as_of) & log["event_type"].isin(MOVES)]
    sign = np.where(before["event_type"].astype(str) == "points_accrued", 1, -1)
    expected = (before["points"] * sign).groupby(before["customer_id"]).sum().reindex(ids)
    assert (got.reindex(ids).to_numpy() == expected.to_numpy()).all()
    accrued_minus_redeemed = (
        before.loc[before["event_type"] != "points_expired", "points"]
        * sign[before["event_type"].to_numpy() != "points_expired"]
    )
    # the expiries matter: without them these balances would be higher
    assert accrued_minus_redeemed.sum() > expected.sum()


def _literal(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["event_type", "occurred_at", "points"])
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True, format="ISO8601")
    frame["customer_id"] = 1
    frame["partner_id"] = "P01"
    frame["event_id"] = np.arange(len(frame))
    return frame


LITERAL = _literal(
    [
        ("points_accrued", "2024-01-10 10:00:01", 800),
        ("points_expired", "2025-01-10 00:00", 800),  # the end of 2025-01-09, 365 days later
        ("points_accrued", "2025-03-01 09:00:01", 600),
        ("points_redeemed", "2025-03-03 09:00:02", 500),
    ]
)


@pytest.mark.parametrize(
    ("as_of", "balance"),
    [
        ("2024-06-01", 800.0),
        ("2025-01-10", 800.0),  # the expiry is at T: not yet seen
        ("2025-01-11", 0.0),
        ("2025-03-02", 600.0),
        ("2025-04-01", 100.0),
    ],
)
def test_points_balance_feature_subtracts_expiries(as_of: str, balance: float) -> None:
    row = compute_features(Timeline(LITERAL), [1], pd.Timestamp(as_of, tz="UTC")).iloc[0]
    assert row["points_balance"] == balance


def test_a_redemption_above_the_unexpired_balance_is_soon() -> None:
    # 500 redeemed on 2025-03-03; 7 days before the balance was 0 (800 earned, 800 expired),
    # not 800: these points were earned and cashed within the week
    row = compute_features(Timeline(LITERAL), [1], pd.Timestamp("2025-04-01", tz="UTC")).iloc[0]
    assert row["soon_redemption_share_365d"] == 1.0
