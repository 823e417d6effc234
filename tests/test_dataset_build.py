"""``loyalty dataset build`` on the simulated ecosystem: layout, contract, oracle, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.contract import FeatureContract
from features.definitions import FEATURE_NAMES
from loyalty.cli import app

runner = CliRunner()
AS_OF = ["2025-02-01", "2025-05-01", "2025-08-01"]


@pytest.fixture(scope="module")
def dataset(sim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "ds"
    args = ["dataset", "build", "--events", str(sim_dir), "--horizon", "90d", "--out", str(out)]
    for t in AS_OF:
        args += ["--as-of", t]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize(
    ("kind", "label"), [("churn", "churn"), ("propensity", "redeemed"), ("risk", "risk")]
)
def test_layout_keys_and_contract(dataset: Path, kind: str, label: str) -> None:
    frame = pd.read_parquet(dataset / kind / "data")
    contract = FeatureContract.from_dict(
        json.loads((dataset / kind / "feature_contract.json").read_text())
    )
    assert contract.names[: len(FEATURE_NAMES)] == list(FEATURE_NAMES)
    assert contract.check(frame) == []
    keys = ["customer_id", "snapshot", "as_of"] + (
        ["send_event_id", "offer_id"] if kind == "propensity" else []
    )
    assert set(keys) <= set(frame.columns) and label in frame.columns
    assert not (set(frame.columns) & {"oracle", "truth"})
    assert len(frame) > 1000 and frame[label].isin([0, 1]).all()
    assert (dataset / kind / "oracle.parquet").exists()
    if kind != "propensity":
        assert sorted(frame["snapshot"].dt.strftime("%Y-%m-%d").unique()) == AS_OF
        assert (frame["as_of"] == frame["snapshot"]).all()


def test_propensity_rows_are_sends_in_the_window_with_features_at_send_time(dataset: Path) -> None:
    frame = pd.read_parquet(dataset / "propensity" / "data")
    assert frame["send_event_id"].is_unique
    assert (
        (frame["as_of"] >= frame["snapshot"])
        & (frame["as_of"] < frame["snapshot"] + pd.Timedelta(days=90))
    ).all()
    assert {"offer_type", "offer_value", "offer_points_cost"} <= set(frame.columns)


@pytest.mark.parametrize(
    ("kind", "label"), [("churn", "churn"), ("propensity", "redeemed"), ("risk", "risk")]
)
def test_oracle_is_the_truth_of_exactly_these_labels(dataset: Path, kind: str, label: str) -> None:
    y = pd.read_parquet(dataset / kind / "data")[label].to_numpy()
    oracle = pd.read_parquet(dataset / kind / "oracle.parquet")
    assert len(y) == len(oracle)
    for column in ("oracle", "oracle_latent"):  # given the history / given the latent state
        p = oracle[column].to_numpy()
        bins = pd.qcut(p, 10, duplicates="drop")
        g = (
            pd.DataFrame({"p": p, "y": y})
            .groupby(bins, observed=True)
            .agg(p=("p", "mean"), y=("y", "mean"), n=("y", "size"))
        )
        z = (g["y"] - g["p"]) / np.sqrt((g["p"] * (1 - g["p"]) / g["n"]).clip(lower=1e-9))
        assert (z.abs() < 4.5).all(), (column, g)
        assert abs(y.sum() - p.sum()) < 4 * np.sqrt((p * (1 - p)).sum()) + 1


def _build(tmp_path: Path, events: Path, *extra: str) -> object:
    out = tmp_path / "out"
    return runner.invoke(
        app, ["dataset", "build", "--events", str(events), "--out", str(out), *extra]
    ), out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--as-of", "2019-01-01"], "outside the data"),
        (["--as-of", "2025-03-01", "--horizon", "3m"], "months are ambiguous"),
        (["--as-of", "2025-03-01", "--horizon", "90x"], "unknown unit 'x'"),
        (["--as-of", "2025-03-01", "--offer-window", "soon"], "is not <number><unit>"),
        (["--as-of", "March"], "is not an ISO date"),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(
    sim_dir: Path, tmp_path: Path, extra, message
) -> None:
    result, out = _build(tmp_path, sim_dir, *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not out.exists()


def test_invalid_or_empty_logs_are_refused(tmp_path: Path) -> None:
    header = "event_id,event_type,occurred_at,customer_id\n"
    (tmp_path / "empty.csv").write_text(header)
    (tmp_path / "bad.csv").write_text(header + "1,teleport,2025-01-01,7\n")
    for name, message in (("empty.csv", "empty"), ("bad.csv", "teleport")):
        result, out = _build(tmp_path, tmp_path / name, "--as-of", "2025-01-01")
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert not out.exists()


def test_immature_snapshots_are_dropped_and_counted(sim_dir: Path, tmp_path: Path) -> None:
    result, out = _build(tmp_path, sim_dir, "--as-of", "2025-05-01", "--as-of", "2026-06-01")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["churn"]["immature_snapshots"] == 1
    frame = pd.read_parquet(out / "churn" / "data")
    assert frame["snapshot"].dt.strftime("%Y-%m-%d").unique().tolist() == ["2025-05-01"]


def test_building_twice_gives_identical_datasets(
    sim_dir: Path, tmp_path: Path, dataset: Path
) -> None:
    args = ["dataset", "build", "--events", str(sim_dir), "--out", str(tmp_path / "again")]
    for t in AS_OF:
        args += ["--as-of", t]
    assert runner.invoke(app, args).exit_code == 0
    for kind in ("churn", "propensity", "risk"):
        first = pd.read_parquet(dataset / kind / "data")
        again = pd.read_parquet(tmp_path / "again" / kind / "data")
        pd.testing.assert_frame_equal(first, again)
        assert (dataset / kind / "feature_contract.json").read_text() == (
            tmp_path / "again" / kind / "feature_contract.json"
        ).read_text()


def test_purchases_only_log_gives_exact_churn_labels(tmp_path: Path) -> None:
    (tmp_path / "log.csv").write_text(
        "event_id,event_type,occurred_at,customer_id,partner_id,amount\n"
        "1,purchase,2025-01-10T10:00:00Z,1,P01,120\n"
        "2,purchase,2025-03-05T10:00:00Z,1,P01,80\n"
        "3,purchase,2025-01-20T10:00:00Z,2,P01,60\n"
        "4,purchase,2025-06-30T10:00:00Z,3,P01,60\n"
    )
    result, out = _build(
        tmp_path, tmp_path / "log.csv", "--as-of", "2025-02-01", "--horizon", "45d"
    )
    assert result.exit_code == 0, result.output
    churn = pd.read_parquet(out / "churn" / "data").set_index("customer_id")
    assert churn["churn"].to_dict() == {1: 0, 2: 1}
    assert churn.loc[1, "spend_30d"] == 120.0 and churn.loc[2, "tier"] == "basic"
    assert len(pd.read_parquet(out / "propensity" / "data")) == 0
    assert not (out / "churn" / "oracle.parquet").exists()


@pytest.mark.parametrize("kind", ["churn", "propensity", "risk"])
def test_column_dtypes_follow_the_contract(dataset: Path, kind: str) -> None:
    """Serving and the registry's signature type columns from the contract: the data must agree."""
    frame = pd.read_parquet(dataset / kind / "data")
    contract = json.loads((dataset / kind / "feature_contract.json").read_text())
    expected = {"int": "int64", "float": "float64", "category": "category"}
    for feature in contract["features"]:
        assert str(frame[feature["name"]].dtype) == expected[feature["dtype"]], feature["name"]
