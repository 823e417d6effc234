"""Training/serving skew: what the service reads equals what the dataset builder computed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.definitions import FEATURE_NAMES
from features.online_store import FILE_NAME, FeatureStore
from loyalty.cli import app

runner = CliRunner()
T = "2025-05-01"


def test_materialized_features_equal_the_dataset_builders(
    sim_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOYALTY_HOME", str(tmp_path / "home"))
    done = runner.invoke(app, ["features", "materialize", "--events", str(sim_dir), "--as-of", T])
    assert done.exit_code == 0, done.output
    built = runner.invoke(
        app,
        ["dataset", "build", "--events", str(sim_dir), "--as-of", T, "--out", str(tmp_path / "ds")],
    )
    assert built.exit_code == 0, built.output
    rows = pd.read_parquet(tmp_path / "ds" / "churn" / "data")
    store = FeatureStore(tmp_path / "home" / FILE_NAME)
    assert store.as_of == pd.Timestamp(T, tz="UTC")
    served = store.read(rows["customer_id"]).set_index("customer_key")
    served = served.loc[rows["customer_id"].astype(str)]
    for name in FEATURE_NAMES:
        expected, actual = rows[name].reset_index(drop=True), served[name].reset_index(drop=True)
        if isinstance(expected.dtype, pd.CategoricalDtype):
            expected, actual = expected.astype(str), actual.astype(str)
        pd.testing.assert_series_equal(expected, actual, check_names=False, obj=name)


def test_materialize_refuses_a_missing_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOYALTY_HOME", str(tmp_path / "home"))
    result = runner.invoke(app, ["features", "materialize", "--events", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert not (tmp_path / "home" / FILE_NAME).exists()
