"""Pure pieces of the model package: calibration, category codes, reason codes, metrics, splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.calibration import Calibrator, fit_calibrator
from models.package import FeatureMismatchError, category_codes, feature_matrix
from models.reasons import Reason, top_reasons
from training.metrics import capture_at, evaluate, expected_calibration_error, lift_at
from training.split import SplitError, time_split


def test_isotonic_calibration_is_stored_as_numbers_and_matches_sklearn() -> None:
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(0)
    raw = rng.random(2000)
    label = (rng.random(2000) < raw**2).astype(int)
    ours = fit_calibrator("isotonic", raw, label)
    theirs = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(raw, label)
    grid = np.linspace(-0.5, 1.5, 301)
    np.testing.assert_allclose(ours(grid), theirs.predict(grid), rtol=0, atol=1e-12)
    assert Calibrator.from_dict(ours.to_dict()) == ours
    assert (np.diff(ours(np.sort(raw))) >= 0).all()  # never reverses the ranking


def test_sigmoid_calibration_keeps_the_order() -> None:
    raw = np.array([0.01, 0.2, 0.5, 0.9])
    cal = fit_calibrator("sigmoid", np.tile(raw, 50), np.tile([0, 0, 1, 1], 50))
    assert cal.slope > 0 and (np.diff(cal(raw)) > 0).all()


def test_category_codes_map_unseen_and_missing_to_the_neutral_level() -> None:
    levels = ["east", "north", "unknown"]
    values = pd.Series(["north", "mars", None, "east"])
    assert category_codes(values, levels, "unknown").tolist() == [1, 2, 2, 0]
    as_category = values.astype("category")
    assert category_codes(as_category, levels, "unknown").tolist() == [1, 2, 2, 0]


CONTRACT_FEATURES = (
    {
        "name": "region",
        "dtype": "category",
        "categories": ["east", "unknown"],
        "neutral": "unknown",
    },
    {"name": "visits", "dtype": "int"},
)


def test_feature_matrix_names_the_missing_column_and_the_bad_value() -> None:
    from features.contract import FeatureContract

    contract = FeatureContract("v", CONTRACT_FEATURES)
    ok = feature_matrix(contract, pd.DataFrame({"visits": [3, 1], "region": ["east", "x"]}))
    assert ok.tolist() == [[0.0, 3.0], [1.0, 1.0]]
    with pytest.raises(FeatureMismatchError, match=r"missing feature column.*visits"):
        feature_matrix(contract, pd.DataFrame({"region": ["east"]}))
    with pytest.raises(FeatureMismatchError, match="'visits': row 1 has non-numeric value 'many'"):
        feature_matrix(contract, pd.DataFrame({"region": ["east"] * 2, "visits": [1, "many"]}))


def test_top_reasons_pick_the_largest_absolute_contributions_in_words() -> None:
    contributions = np.array([[0.5, -2.0, 0.1, -1.0], [0.0, 0.0, 0.3, -1.0]])
    names = ["complaints_90d", "activity_90d", "tenure_days"]
    values = [[2, 5, 400.0], [0, 0, 30.0]]
    reasons = top_reasons(contributions, names, values, top=2)
    assert [r.feature for r in reasons[0]] == ["activity_90d", "complaints_90d"]
    assert [r.feature for r in reasons[1]] == ["tenure_days"]  # zero contributions say nothing
    words = Reason("complaints_90d", 2, 0.5).words("churn risk")
    assert words == "Complaints in the 90 days: 2 (raises churn risk)"


def test_metrics_on_a_literal_example() -> None:
    label = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 1])
    score = np.array([0.9, 0.8, 0.7, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.05])
    assert capture_at(label, score, 0.1) == pytest.approx(1 / 3)
    assert lift_at(label, score, 0.1) == pytest.approx(1 / 0.3)
    assert expected_calibration_error(np.array([1, 0]), np.array([0.75, 0.25])) == 0.25
    metrics = evaluate(label, score, review_share=0.2)
    assert metrics["precision_at_review"] == 0.5 and metrics["rows"] == 10


def _frame(snapshots: list[str]) -> pd.DataFrame:
    snaps = pd.to_datetime(snapshots, utc=True)
    rows = [(c, s) for s in snaps for c in range(100)]
    return pd.DataFrame(rows, columns=["customer_id", "snapshot"])


def test_time_split_holds_out_the_last_snapshot_and_calibrates_on_its_own_customers() -> None:
    frame = _frame(["2025-01-01", "2025-04-01", "2025-07-01", "2025-10-01"])
    ends = frame["snapshot"] + pd.Timedelta(days=90)
    split = time_split(frame["snapshot"], ends, frame["customer_id"], seed=3)
    last = frame["snapshot"] == frame["snapshot"].max()
    assert (split.mask("holdout") == last.to_numpy()).all()
    stop = frame.loc[split.mask("early_stop"), "snapshot"]
    assert (stop == pd.Timestamp("2025-07-01", tz="UTC")).all()
    calibration = set(frame.loc[split.mask("calibration"), "customer_id"])
    trained = set(frame.loc[split.mask("train") | split.mask("early_stop"), "customer_id"])
    assert calibration and not calibration & trained
    assert split.embargoed == 0


def test_rows_whose_label_reaches_the_next_split_are_embargoed() -> None:
    frame = _frame(["2025-01-01", "2025-04-01", "2025-07-01"])
    ends = frame["snapshot"] + pd.Timedelta(days=120)  # longer than the 90-day spacing
    split = time_split(frame["snapshot"], ends, frame["customer_id"], seed=3)
    assert split.embargoed == 200 and split.counts()["holdout"] == 100


def test_two_snapshots_cannot_be_split_honestly() -> None:
    frame = _frame(["2025-01-01", "2025-04-01"])
    with pytest.raises(SplitError, match="at least 3 snapshots"):
        time_split(frame["snapshot"], frame["snapshot"], frame["customer_id"])
