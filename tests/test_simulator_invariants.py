"""Invariants a real loyalty ledger holds, checked on the simulated event log."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.schema import QUALIFYING_ACTIVITY, TIER_ORDER
from simulator.config import TIER_THRESHOLDS


def test_event_ids_are_unique(sim_events: pd.DataFrame) -> None:
    assert sim_events["event_id"].is_unique


def test_points_balance_never_negative(sim_events: pd.DataFrame) -> None:
    moves = ["points_accrued", "points_redeemed", "points_expired"]
    pts = sim_events[sim_events["event_type"].isin(moves)]
    pts = pts.sort_values(["customer_id", "occurred_at", "event_id"])
    signed = np.where(pts["event_type"] == "points_accrued", 1, -1) * pts["points"].to_numpy()
    balance = pd.Series(signed, index=pts.index).groupby(pts["customer_id"].to_numpy()).cumsum()
    assert (pts["points"] > 0).all()
    assert balance.min() >= 0
    assert (pts["event_type"] == "points_redeemed").sum() > 1000


def test_offer_redeemed_only_after_its_offer_sent(sim_events: pd.DataFrame, sim_dir) -> None:
    sent = sim_events[sim_events["event_type"] == "offer_sent"]
    offers = pd.read_parquet(sim_dir / "reference" / "offers.parquet")
    for kind in ("offer_redeemed", "offer_declined"):
        answers = sim_events[sim_events["event_type"] == kind]
        joined = answers.merge(
            sent, left_on="ref_event_id", right_on="event_id", suffixes=("", "_sent")
        )
        assert len(joined) == len(answers) > 0
        assert (joined["customer_id"] == joined["customer_id_sent"]).all()
        assert (joined["offer_id"].astype(str) == joined["offer_id_sent"].astype(str)).all()
        assert (joined["occurred_at"] > joined["occurred_at_sent"]).all()
        valid = joined["offer_id"].astype(str).map(offers.set_index("offer_id")["valid_days"])
        assert (
            (joined["occurred_at"] - joined["occurred_at_sent"]) <= pd.to_timedelta(valid, "D")
        ).all()


def test_tiers_follow_trailing_year_points(sim_events: pd.DataFrame) -> None:
    changes = sim_events.loc[
        sim_events["event_type"] == "tier_changed", ["customer_id", "occurred_at", "tier"]
    ]
    review = changes["occurred_at"] - pd.Timedelta(hours=2)
    accrued = sim_events.loc[
        sim_events["event_type"] == "points_accrued", ["customer_id", "occurred_at", "points"]
    ]
    pairs = (
        changes.assign(review=review)
        .reset_index()
        .merge(accrued, on="customer_id", suffixes=("", "_acc"))
    )
    in_year = (pairs["occurred_at_acc"] > pairs["review"] - pd.Timedelta(days=365)) & (
        pairs["occurred_at_acc"] <= pairs["review"]
    )
    earned = pairs[in_year].groupby("index")["points"].sum().reindex(changes.index, fill_value=0)
    thresholds = np.array(list(TIER_THRESHOLDS.values()))
    expected = np.array(TIER_ORDER)[
        np.searchsorted(thresholds, earned.to_numpy(), side="right") - 1
    ]
    assert (changes["tier"].astype(str).to_numpy() == expected).all()
    # every change really changes the tier (enrolment starts at basic)
    previous = changes.groupby("customer_id")["tier"].shift().astype(object).fillna("basic")
    assert (previous.astype(str) != changes["tier"].astype(str)).all()


def test_nothing_but_what_the_story_allows_after_a_lapse(
    sim_events: pd.DataFrame, sim_truth
) -> None:
    world = sim_truth.world
    lapse = pd.Series(sim_truth.lapse_day, index=sim_truth.index)
    day = world.timestamp_to_day(sim_events["occurred_at"])
    after = day > lapse.reindex(sim_events["customer_id"]).to_numpy() + 1e-9
    late = sim_events[after]
    assert not late["event_type"].isin(list(QUALIFYING_ACTIVITY)).any()
    allowed = {
        "offer_sent",
        "tier_changed",
        "consent_changed",
        "offer_declined",
        "account_closed",
        "account_flagged",
        "points_expired",  # a lapsed customer's balance expires a year after its last movement
    }
    assert set(late["event_type"].astype(str)) <= allowed
    flags = late[late["event_type"] == "account_flagged"]
    assert (flags["flag_status"].astype(str) == "cleared").all()  # an open review may still close
    declines = late[late["event_type"] == "offer_declined"]
    assert (declines["reason"].astype(str) == "do_not_disturb").all()
    closed = sim_events.loc[
        sim_events["event_type"] == "account_closed", ["customer_id", "occurred_at"]
    ]
    after_close = sim_events.merge(closed, on="customer_id", suffixes=("", "_closed"))
    assert (after_close["occurred_at"] <= after_close["occurred_at_closed"]).all()


def test_every_customer_enrols_once_before_anything_else(sim_events: pd.DataFrame) -> None:
    enrol = sim_events[sim_events["event_type"] == "enrollment"].set_index("customer_id")[
        "occurred_at"
    ]
    assert enrol.index.is_unique
    first = sim_events.groupby("customer_id")["occurred_at"].min()
    assert (first == enrol.reindex(first.index)).all()


def test_simulated_log_passes_schema_validation(sim_dir) -> None:
    from features.io import read_events

    frame, report = read_events(sim_dir)
    assert report.ok, report.to_text()
    assert report.duplicates_dropped == 0
    assert report.rows_valid == len(frame) > 0
