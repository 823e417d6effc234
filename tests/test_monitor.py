"""``loyalty monitor run``: reports for every champion in a dated folder, an index with trends,
quality per labelled window tracked in MLflow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_gate_support import client, copy_home, invoke, set_aliases


@pytest.fixture(scope="module")
def monitored(trained_home: Path, train_dataset: Path, tmp_path_factory) -> Path:
    """A home whose churn model is champion, monitored twice (a trend needs two points)."""
    home = copy_home(trained_home, tmp_path_factory.mktemp("monitor") / "home")
    set_aliases(home, "churn", champion=1)
    for _ in range(2):
        result = invoke(home, "monitor", "run", "--dataset", train_dataset)
        assert result.exit_code == 0, result.output
    return home


def _runs(home: Path) -> list[Path]:
    return sorted(p.parent for p in (home / "reports").glob("*/monitor.json"))


def test_each_run_writes_drift_and_quality_reports_in_a_dated_folder(monitored: Path) -> None:
    runs = _runs(monitored)
    assert len(runs) == 2
    latest = runs[-1]
    summary = json.loads((latest / "monitor.json").read_text())
    by_kind = {m["kind"]: m for m in summary["models"]}
    assert by_kind["churn"]["status"] == "ok"
    assert by_kind["propensity"]["status"].startswith("no champion")
    for name in by_kind["churn"]["files"]:
        assert (latest / name).stat().st_size > 0
    drift = json.loads((latest / "churn" / "drift.json").read_text())
    assert drift["current"]["rows"] == by_kind["churn"]["headline"]["rows_current"]
    assert drift["model"]["alias"] == "champion"


def test_quality_per_window_matches_the_training_holdout_and_is_tracked(
    monitored: Path, train_dataset: Path
) -> None:
    quality = json.loads((_runs(monitored)[-1] / "churn" / "quality.json").read_text())
    windows = quality["windows"]
    assert len(windows) == 5  # one per snapshot of the dataset
    assert [w["role"] for w in windows][-2:] == ["early stopping", "holdout"]
    c = client(monitored)
    version = c.get_model_version("loyalty-churn", "1")
    trained = c.get_run(version.run_id).data.metrics
    assert windows[-1]["roc_auc"] == pytest.approx(trained["roc_auc"], abs=1e-12)
    assert windows[-1]["ece"] == pytest.approx(trained["ece"], abs=1e-12)
    history = c.get_metric_history(quality["mlflow_run_id"], "roc_auc")
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == [0, 1, 2, 3, 4]
    run = c.get_run(quality["mlflow_run_id"])
    assert run.data.tags["model_version"] == "1"
    assert "quality.html" in {a.path for a in c.list_artifacts(run.info.run_id)}


def test_the_index_lists_every_run_with_a_trend_plot_per_headline(monitored: Path) -> None:
    runs = _runs(monitored)
    index = (monitored / "reports" / "index.html").read_text()
    for run in runs:
        assert f"{run.name}/churn/drift.html" in index
        assert f"{run.name}/churn/quality.html" in index
    for figure in ("roc_auc", "ece", "drifted_share", "prediction_drift"):
        plot = runs[-1] / f"trend_{figure}.png"
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"{runs[-1].name}/trend_{figure}.png" in index
    assert "churn/drift.html" in (runs[-1] / "index.html").read_text()


def test_nothing_to_monitor_without_a_champion(
    trained_home: Path, train_dataset: Path, tmp_path: Path
) -> None:
    home = copy_home(trained_home, tmp_path / "home")
    result = invoke(home, "monitor", "run", "--dataset", train_dataset)
    assert result.exit_code == 2
    assert "champion" in result.output
    assert not (home / "reports").exists()
