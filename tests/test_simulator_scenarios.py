"""Each named drift scenario changes the data from its start date, and only from then."""

from __future__ import annotations

import pandas as pd

LAUNCH = pd.Timestamp("2025-06-01", tz="UTC")
ACCRUAL = pd.Timestamp("2025-09-01", tz="UTC")
ONBOARDING = pd.Timestamp("2025-03-01", tz="UTC")
SWING = pd.Timestamp("2025-01-01", tz="UTC")


def test_product_launch_brings_the_new_model_only_after_launch(sim_events: pd.DataFrame) -> None:
    reg = sim_events[sim_events["event_type"] == "product_registered"]
    new = reg[reg["product_model"].astype(str) == "ev_crossover"]
    assert len(new) > 500
    assert new["occurred_at"].min() >= LAUNCH


def test_accrual_change_cuts_points_per_money_for_p01(sim_events: pd.DataFrame) -> None:
    visits = sim_events[sim_events["event_type"].isin(["purchase", "service_visit"])]
    accrued = sim_events[sim_events["event_type"] == "points_accrued"]
    pair = visits.merge(accrued, on=["customer_id", "dealer_id"], suffixes=("", "_pts"))
    pair = pair[pair["occurred_at_pts"] - pair["occurred_at"] == pd.Timedelta(seconds=1)]
    pair = pair[(pair["partner_id"].astype(str) == "P01") & (pair["amount"] >= 50)]
    rate = pair["points_pts"] / pair["amount"]
    before = rate[pair["occurred_at"] < ACCRUAL]
    after = rate[pair["occurred_at"] >= ACCRUAL]
    # honest customers earn floor(amount * rate); colluding dealers triple it
    assert before.median() > 0.95 and 0.55 <= after.median() < 0.6


def test_partner_onboarding_enrols_only_after_joining(sim_events: pd.DataFrame, sim_dir) -> None:
    enrol = sim_events[sim_events["event_type"] == "enrollment"]
    delta = enrol[enrol["partner_id"].astype(str) == "P05"]
    assert len(delta) > 300
    assert delta["occurred_at"].min() >= ONBOARDING
    partners = pd.read_parquet(sim_dir / "reference" / "partners.parquet")
    assert "P05" in set(partners["partner_id"])


def test_seasonal_swing_widens_the_visit_season(sim_events: pd.DataFrame) -> None:
    visits = sim_events[sim_events["event_type"] == "service_visit"]
    month = visits["occurred_at"].dt.month
    year = visits["occurred_at"].dt.year
    per = visits.groupby([year, month]).size()
    # April (peak) over August (trough), before the swing (2024) and after (2025)
    ratio_2024 = per[(2024, 4)] / per[(2024, 8)]
    ratio_2025 = per[(2025, 4)] / per[(2025, 8)]
    assert ratio_2025 > 1.3 * ratio_2024
