"""Drift reports on the simulator's drift scenarios, with no-drift controls.

The session ecosystem switches on every scenario: partner_onboarding (Delta EV, P05) from
2025-03-01 and product_launch (the ev_crossover model) from 2025-06-01, both after the first two
quarterly snapshots (2024-09-01, 2024-12-01), which serve as the control pair: same kind of
population change over a quarter, no scenario in between. The other two scenarios
(seasonal_swing, accrual_change) move activity and points features that the season moves as
well, so no univariate drift test can attribute them; docs/monitoring.md says so.
"""

from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_gate_support import client, copy_home, invoke

from monitoring.config import load_config
from monitoring.drift import verdict_line
from monitoring.drift_run import compare, data_drift, split_types
from monitoring.tables import SAMPLING, contract_beside, read_sample


@pytest.fixture(scope="module")
def snapshots(train_dataset: Path, tmp_path_factory) -> dict[str, Path]:
    """One Parquet file per churn snapshot, each with the feature contract beside it."""
    root = tmp_path_factory.mktemp("snapshots")
    frame = pd.read_parquet(train_dataset / "churn" / "data")
    out = {}
    for when, rows in frame.groupby("snapshot", observed=True):
        folder = root / str(when.date())
        folder.mkdir()
        rows.to_parquet(folder / "rows.parquet", index=False)
        shutil.copy(train_dataset / "churn" / "feature_contract.json", folder)
        out[str(when.date())] = folder / "rows.parquet"
    halves = root / "halves"
    halves.mkdir()
    last = frame[frame["snapshot"] == frame["snapshot"].max()]
    first = last["customer_id"].astype(str).map(lambda c: zlib.crc32(c.encode()) % 2 == 0)
    last[first.to_numpy()].to_parquet(halves / "a.parquet", index=False)  # split by customer
    last[~first.to_numpy()].to_parquet(halves / "b.parquet", index=False)
    shutil.copy(train_dataset / "churn" / "feature_contract.json", halves)
    out["half_a"], out["half_b"] = halves / "a.parquet", halves / "b.parquet"
    return out


def _drift(snapshots: dict[str, Path], before: str, after: str) -> dict:
    _, summary = data_drift(snapshots[before], snapshots[after], load_config().drift)
    return summary


def _drifted(summary: dict) -> set[str]:
    return {f["feature"] for f in summary["per_feature"] if f["drifted"]}


@pytest.fixture(scope="module")
def control(snapshots: dict[str, Path]) -> dict:
    return _drift(snapshots, "2024-09-01", "2024-12-01")


def test_product_launch_drifts_the_product_model_and_the_control_does_not(
    snapshots: dict[str, Path], control: dict
) -> None:
    launch = _drift(snapshots, "2025-06-01", "2025-09-01")
    assert "product_model" in _drifted(launch)
    assert "product_model" not in _drifted(control)
    scores = {f["feature"]: f for f in launch["per_feature"]}
    assert scores["product_model"]["method"] == "psi_quantile"
    assert scores["product_model"]["score"] >= scores["product_model"]["threshold"]


def test_partner_onboarding_drifts_the_partner_and_the_control_does_not(
    snapshots: dict[str, Path], control: dict
) -> None:
    onboarding = _drift(snapshots, "2025-03-01", "2025-06-01")
    assert "partner_id" in _drifted(onboarding)
    assert "partner_id" not in _drifted(control)


def test_two_halves_of_one_snapshot_do_not_drift(snapshots: dict[str, Path], tmp_path) -> None:
    result = invoke(
        tmp_path / "home",
        "drift",
        "--reference",
        snapshots["half_a"],
        "--current",
        snapshots["half_b"],
        "--out",
        tmp_path / "out",
        "--fail-on-drift",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert summary["drifted_features"] == 0
    assert summary["dataset_drift"] is False
    assert summary["features"] == len(contract_beside(snapshots["half_a"]).names)
    assert not (tmp_path / "home").exists()  # no registry needed, nothing written there
    n, out = summary["features"], tmp_path / "out"
    assert result.output.splitlines()[-2:] == [
        f"no drift: 0 of {n} features drifted (0.0%), under the 30% at which the data drifts",
        f"report: {out / 'drift.html'}  summary: {out / 'drift.json'}",
    ]


def test_a_year_of_change_fails_on_drift_with_a_stated_sample(
    snapshots: dict[str, Path], tmp_path
) -> None:
    out = tmp_path / "out"
    args = ["--reference", snapshots["2024-09-01"], "--current", snapshots["2025-09-01"]]
    result = invoke(tmp_path, "drift", *args, "--out", out, "--fail-on-drift", "--max-rows", 3000)
    assert result.exit_code == 1, result.output
    summary = json.loads((out / "drift.json").read_text())
    assert summary["dataset_drift"] is True
    assert summary["drifted_share"] >= summary["drift_share_threshold"]
    assert summary["drifted_share"] == summary["evidently_drifted_share"]
    for side in ("reference", "current"):
        assert summary[side]["rows_used"] == 3000
        assert summary[side]["sampled"] is True
        assert summary[side]["strategy"] == SAMPLING
    for feature in summary["per_feature"]:
        assert set(feature) >= {"feature", "score", "method", "threshold", "verdict"}
    assert verdict_line(summary) in result.output.splitlines()
    table = {}  # the printed table, not a terminal: every cell whole (never "0.80...")
    for line in result.output.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 5:
            table[cells[0]] = cells[1:]
    shown = sorted((f for f in summary["per_feature"] if f["drifted"]), key=lambda f: -f["score"])
    for f in shown[:20]:
        assert table[f["feature"]] == [f["type"], str(f["score"]), str(f["threshold"]), "drift"]
    page = (out / "drift.html").read_text()
    assert "3,000 of" in page
    assert "seed" in page
    assert len(page) > 100_000  # the Evidently report itself, not only our header


def test_the_gates_fast_path_agrees_with_the_full_report(snapshots: dict[str, Path]) -> None:
    config = load_config().drift
    contract = contract_beside(snapshots["2025-06-01"])
    numerical, categorical = split_types(contract)
    ref = read_sample(snapshots["2025-06-01"], contract.names, 4000, 1)
    cur = read_sample(snapshots["2025-09-01"], contract.names, 4000, 2)
    _, full = compare(ref, cur, numerical, categorical, None, config, render=True)
    _, fast = compare(ref, cur, numerical, categorical, None, config, render=False)
    assert [(f["feature"], f["drifted"]) for f in fast["per_feature"]] == [
        (f["feature"], f["drifted"]) for f in full["per_feature"]
    ]
    assert np.allclose(
        [f["score"] for f in fast["per_feature"]], [f["score"] for f in full["per_feature"]]
    )
    assert fast["dataset_drift"] == full["dataset_drift"]


def test_sampling_is_seeded_and_uniform(snapshots: dict[str, Path]) -> None:
    path = snapshots["2025-09-01"]
    a = read_sample(path, ["customer_id", "tenure_days"], 1000, 7)
    b = read_sample(path, ["customer_id", "tenure_days"], 1000, 7)
    c = read_sample(path, ["customer_id", "tenure_days"], 1000, 8)
    assert a.frame.equals(b.frame)
    assert not a.frame.equals(c.frame)
    assert len(a.frame) == 1000 and a.sampled and a.total > 1000
    everything = pd.read_parquet(path, columns=["tenure_days"])["tenure_days"]
    # uniform: the sample mean sits within four standard errors of the population mean
    standard_error = everything.std() / len(a.frame) ** 0.5
    assert abs(a.frame["tenure_days"].mean() - everything.mean()) < 4 * standard_error


def test_without_a_contract_the_reference_columns_are_compared(tmp_path, snapshots) -> None:
    frame = pd.read_parquet(snapshots["2025-09-01"])[["customer_id", "tier", "tenure_days"]]
    frame.to_parquet(tmp_path / "ref.parquet", index=False)
    frame.drop(columns=["tenure_days"]).to_parquet(tmp_path / "cur.parquet", index=False)
    _, summary = data_drift(tmp_path / "ref.parquet", tmp_path / "cur.parquet", load_config().drift)
    assert [f["feature"] for f in summary["per_feature"]] == ["tier"]  # ids never compared
    assert summary["columns_only_in_reference"] == ["tenure_days"]
    assert summary["feature_contract"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--current", "nowhere.parquet"], "no such file"),
        (["--current", "{cur}"], "--reference"),
        (["--current", "{cur}", "--reference", "{cur}", "--alias", "x"], "--alias needs"),
    ],
)
def test_drift_errors_exit_2(snapshots, tmp_path, args: list[str], message: str) -> None:
    filled = [a.format(cur=snapshots["half_a"]) for a in args]
    result = invoke(tmp_path, "drift", *filled)
    assert result.exit_code == 2
    assert message in result.output


def test_model_drift_uses_the_logged_reference_and_is_logged_against_the_version(
    trained_home: Path, train_dataset: Path, tmp_path: Path
) -> None:
    home = copy_home(trained_home, tmp_path / "home")
    out = tmp_path / "out"
    current = train_dataset / "churn" / "data"
    result = invoke(home, "drift", "--model", "churn", "--current", current, "--out", out)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "drift.json").read_text())
    assert summary["model"]["alias"] == "challenger"  # no champion yet: the challenger
    assert summary["reference"]["rows"] == 5000  # the logged sample
    assert summary["prediction"]["feature"] == "prediction"
    assert summary["prediction"]["verdict"] in ("ok", "drift")
    run = client(home).get_run(summary["mlflow_run_id"])
    assert run.data.tags["model_version"] == str(summary["model"]["version"])
    assert run.data.tags["monitoring"] == "drift"
    assert run.data.metrics["drifted_share"] == pytest.approx(summary["drifted_share"])
    artifacts = {a.path for a in client(home).list_artifacts(run.info.run_id)}
    assert {"drift.json", "drift.html"} <= artifacts


def test_psi_quantile_sees_a_heavy_tail_shift_that_equal_width_psi_misses() -> None:
    from evidently.legacy.calculations.stattests import get_stattest
    from evidently.legacy.core import ColumnType

    from monitoring.stattest import register

    register()
    rng = np.random.default_rng(4)
    ref = pd.Series(rng.lognormal(0.0, 1.0, 50_000))
    cur = pd.Series(rng.lognormal(0.5, 1.0, 50_000))  # the median moves by 65%
    num = ColumnType.Numerical
    ours = get_stattest(ref, cur, num, "psi_quantile")(ref, cur, num, 0.1)
    theirs = get_stattest(ref, cur, num, "psi")(ref, cur, num, 0.1)
    assert ours.drifted and ours.drift_score > 0.2
    assert not theirs.drifted  # equal-width bins over the range: nearly all rows in bin one
