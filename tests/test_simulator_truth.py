"""The truth is calibrated, sits in the documented ranges, and answers the builder's labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loyalty.errors import InputError
from simulator.summary import churn_labels, roc_auc, summarize


def _decile_z(prob: np.ndarray, label: np.ndarray) -> pd.DataFrame:
    bins = pd.qcut(prob, 10, duplicates="drop")
    g = (
        pd.DataFrame({"p": prob, "y": label})
        .groupby(bins, observed=True)
        .agg(p=("p", "mean"), y=("y", "mean"), n=("y", "size"))
    )
    var = g["p"] * (1 - g["p"]) / g["n"]
    g["z"] = (g["y"] - g["p"]) / np.sqrt(var.clip(lower=1e-9))
    return g


@pytest.mark.parametrize(
    ("as_of", "horizon"), [("2025-03-01", 90), ("2025-08-15", 180), ("2024-07-01", 30)]
)
def test_churn_truth_is_calibrated_by_decile(
    sim_events, sim_truth, as_of: str, horizon: int
) -> None:
    t = pd.Timestamp(as_of, tz="UTC")
    ids = sim_truth.index.to_numpy()[
        sim_truth.pop.enroll_day <= sim_truth.world.timestamp_to_day(t)
    ]
    label = churn_labels(sim_events, ids, t, horizon)
    prob = sim_truth.churn_probability(ids, t, horizon)
    table = _decile_z(prob, label)
    assert (table["z"].abs() < 4.5).all(), table
    assert abs(label.mean() - prob.mean()) < 0.01
    assert 0.70 <= roc_auc(prob, label) <= 0.99


def test_redemption_truth_is_calibrated(sim_events, sim_truth, sim_dir) -> None:
    window = 14
    end = sim_truth.world.cfg.end
    sent = sim_events[sim_events["event_type"] == "offer_sent"]
    sent = sent[sent["occurred_at"] + pd.Timedelta(days=window) <= end]
    red = sim_events[sim_events["event_type"] == "offer_redeemed"]
    pair = red.merge(
        sent[["event_id", "occurred_at"]],
        left_on="ref_event_id",
        right_on="event_id",
        suffixes=("", "_sent"),
    )
    in_window = pair[pair["occurred_at"] - pair["occurred_at_sent"] <= pd.Timedelta(days=window)]
    label = sent["event_id"].isin(in_window["ref_event_id"]).to_numpy()
    prob = sim_truth.redemption_probability(
        sent["customer_id"].to_numpy(),
        sent["offer_id"].astype(str).to_numpy(),
        sent["occurred_at"],
        window,
    )
    table = _decile_z(prob, label)
    assert (table["z"].abs() < 4.5).all(), table
    assert abs(label.mean() - prob.mean()) < 0.01


def test_abuse_truth_matches_confirmations(sim_events, sim_truth) -> None:
    t = pd.Timestamp("2025-01-01", tz="UTC")
    ids = sim_truth.index.to_numpy()[
        sim_truth.pop.enroll_day <= sim_truth.world.timestamp_to_day(t)
    ]
    flags = sim_events[
        (sim_events["event_type"] == "account_flagged") & (sim_events["flag_status"] == "confirmed")
    ]
    hit = flags[(flags["occurred_at"] > t) & (flags["occurred_at"] <= t + pd.Timedelta(days=365))]
    label = np.isin(ids, hit["customer_id"].to_numpy())
    prob = sim_truth.abuse_probability(ids, t, 365)
    expected, sd = prob.sum(), np.sqrt((prob * (1 - prob)).sum())
    assert label.sum() > 20
    assert abs(label.sum() - expected) < 4 * sd
    assert prob[~sim_truth.pop.take(sim_truth.index.get_indexer(ids)).abuser].max() == 0


def test_realism_figures_in_documented_ranges(sim_dir) -> None:
    stats = summarize(sim_dir)
    assert 0.35 <= stats["churn rate (90d before end)"] <= 0.75
    assert 0.70 <= stats["oracle churn ROC AUC"] <= 0.99
    assert 0.05 <= stats["offer redemption rate"] <= 0.25
    assert 0.40 <= stats["points redeemed / accrued"] <= 0.90
    assert 0.005 <= stats["points expired / accrued"] <= 0.08
    assert 0.005 <= stats["abusive accounts share"] <= 0.02
    basic, silver, gold, platinum = (
        float(x) for x in stats["tier shares at end (b/s/g/p)"].split("/")
    )
    assert 0.55 <= basic <= 0.90 and 0.05 <= silver <= 0.30 and gold <= 0.15 and platinum <= 0.05


def test_truth_names_unknown_customers_and_offers(sim_truth) -> None:
    with pytest.raises(InputError, match="not in the simulation truth"):
        sim_truth.churn_probability([10**9], "2025-01-01", 90)
    with pytest.raises(InputError, match="offers not in the simulation"):
        sim_truth.redemption_probability([1], ["NOPE"], "2025-01-01", 14)


def test_truth_is_undefined_before_enrolment(sim_truth) -> None:
    late = sim_truth.index[np.argmax(sim_truth.pop.enroll_day)]
    assert np.isnan(sim_truth.churn_probability([late], "2024-01-02", 90)[0])
    assert np.isnan(sim_truth.churn_probability([late], "2024-01-02", 90, last_seen=[pd.NaT])[0])
    # an offer cannot reach, nor an abuse be confirmed for, a customer not yet enrolled: 0, not NaN
    offer = sim_truth.world.offers["offer_id"].iloc[0]
    assert sim_truth.redemption_probability([late], [offer], "2024-01-02", 14)[0] == 0.0
    assert sim_truth.abuse_probability([late], "2024-01-02", 90)[0] == 0.0
