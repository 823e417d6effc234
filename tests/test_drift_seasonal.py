"""The two scenarios the season confounds, seen where an MLOps engineer would look for them.

``seasonal_swing`` and ``accrual_change`` move visit and points counts, which the season moves
between any two quarters too; so each is compared year over year (same season), and
``accrual_change``, which only hits the largest OEM (P01), in that partner's segment. Each scenario
runs in its own world beside a control world of the same seed without it: the control's
year-over-year comparison is the no-drift control (the population ages and grows there as well).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from test_gate_support import invoke

from monitoring.config import load_config
from monitoring.drift_run import data_drift

CUSTOMERS, SEED = 20_000, 11
BEFORE, AFTER = "2024-06-01", "2025-06-01"  # the scenarios start on 2025-01-01
WORLDS = {
    "control": [],
    "swing": ["seasonal_swing@2025-01-01"],
    "accrual": ["accrual_change@2025-01-01"],
}
WINDOW_COUNTS = {
    "activity_90d",
    "purchases_90d",
    "service_visits_90d",
    "spend_90d",
    "points_earned_90d",
}


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Churn feature rows per (world, snapshot, segment), each with its feature contract."""
    from typer.testing import CliRunner

    from loyalty.cli import app
    from simulator.config import make_config
    from simulator.run import simulate

    root = tmp_path_factory.mktemp("seasonal")
    out = {}
    for world, scenarios in WORLDS.items():
        simulate(make_config(CUSTOMERS, seed=SEED, scenarios=scenarios), root / world)
        ds = root / f"ds-{world}"
        args = ["dataset", "build", "--events", str(root / world), "--horizon", "90d"]
        args += ["--as-of", BEFORE, "--as-of", AFTER, "--out", str(ds)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        frame = pd.read_parquet(ds / "churn" / "data")
        for when, rows in frame.groupby("snapshot", observed=True):
            for segment in ("all", "P01", "P02"):
                part = rows if segment == "all" else rows[rows["partner_id"].astype(str) == segment]
                folder = root / f"{world}-{when.date()}-{segment}"
                folder.mkdir()
                part.to_parquet(folder / "rows.parquet", index=False)
                shutil.copy(ds / "churn" / "feature_contract.json", folder)
                out[f"{world}/{when.date()}/{segment}"] = folder / "rows.parquet"
    return out


def _year_over_year(tables: dict[str, Path], world: str, segment: str = "all") -> dict[str, dict]:
    before, after = tables[f"{world}/{BEFORE}/{segment}"], tables[f"{world}/{AFTER}/{segment}"]
    _, summary = data_drift(before, after, load_config().drift)
    return {f["feature"]: f for f in summary["per_feature"]}


def _drifted(per_feature: dict[str, dict]) -> set[str]:
    return {name for name, f in per_feature.items() if f["drifted"]}


def test_seasonal_swing_drifts_visit_counts_year_over_year(tables: dict[str, Path]) -> None:
    swing = _year_over_year(tables, "swing")
    assert {"activity_90d", "service_visits_90d"} <= _drifted(swing)
    assert swing["service_visits_90d"]["method"] == "wasserstein"
    control = _year_over_year(tables, "control")
    assert not _drifted(control) & WINDOW_COUNTS, {n: control[n]["score"] for n in WINDOW_COUNTS}


def test_accrual_change_drifts_points_earned_in_the_partner_segment(
    tables: dict[str, Path],
) -> None:
    assert "points_earned_90d" in _drifted(_year_over_year(tables, "accrual", "P01"))
    assert "points_earned_90d" not in _drifted(_year_over_year(tables, "accrual", "P02"))
    assert "points_earned_90d" not in _drifted(_year_over_year(tables, "control", "P01"))


def test_the_report_states_the_other_methods(tables: dict[str, Path], tmp_path: Path) -> None:
    args = ["--reference", tables[f"swing/{BEFORE}/all"], "--current", tables[f"swing/{AFTER}/all"]]
    result = invoke(tmp_path, "drift", *args, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert summary["per_feature_method"] == dict.fromkeys(sorted(WINDOW_COUNTS), "wasserstein")
    page = (tmp_path / "out" / "drift.html").read_text()
    assert "Other methods: wasserstein for activity_90d" in page
