"""``loyalty train`` on the session ecosystem: registry, metrics, artifacts, reproducibility."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from loyalty.cli import app
from loyalty.settings import Settings
from models.package import ModelPackage
from training.config import TrainConfig
from training.pipeline import fit, prepare

runner = CliRunner()
KINDS = ("churn", "propensity", "risk")


def _client(home: Path):
    from mlflow import MlflowClient

    uri = Settings(home=home).tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_registered_as_challenger_with_holdout_and_oracle_metrics(
    trained_home: Path, kind: str
) -> None:
    client = _client(trained_home)
    version = client.get_model_version_by_alias(f"loyalty-{kind}", "challenger")
    assert int(version.version) == 1
    aliases = client.get_registered_model(f"loyalty-{kind}").aliases
    assert "champion" not in aliases  # training never promotes
    run = client.get_run(version.run_id)
    metrics = run.data.metrics
    for name in ("roc_auc", "oracle_roc_auc", "pr_auc", "brier", "ece", "capture_at_10pct"):
        assert 0.0 <= metrics[name] <= 1.0, name
    assert metrics["lift_at_10pct"] > 1.0
    assert metrics["roc_auc"] > 0.7
    # beating the truth by more than sampling error would mean the truth is wrong
    assert metrics["roc_auc"] <= metrics["oracle_roc_auc"] + 0.01
    if kind == "risk":
        assert {"precision_at_review", "oracle_precision_at_review"} <= set(metrics)


def test_run_artifacts_plots_reference_sample_without_ids(trained_home: Path) -> None:
    import mlflow

    client = _client(trained_home)
    version = client.get_model_version_by_alias("loyalty-churn", "challenger")
    root = Path(
        mlflow.artifacts.download_artifacts(
            run_id=version.run_id, tracking_uri=Settings(home=trained_home).tracking_uri
        )
    )
    for name in ("roc.png", "pr.png", "calibration.png", "shap_summary.png"):
        assert (root / "plots" / name).stat().st_size > 5000, name
    metrics = json.loads((root / "metrics.json").read_text())
    assert metrics["roc_auc"] == pytest.approx(
        client.get_run(version.run_id).data.metrics["roc_auc"]
    )
    contract = json.loads((root / "feature_contract.json").read_text())
    sample = pd.read_parquet(root / "reference" / "reference.parquet")
    assert not {"customer_id", "send_event_id"} & set(sample.columns)
    assert {"prediction", "churn", *[f["name"] for f in contract["features"]]} <= set(
        sample.columns
    )
    assert len(sample) == 5000 and sample["prediction"].between(0, 1).all()


def _holdout(train_dataset: Path, kind: str) -> pd.DataFrame:
    frame = pd.read_parquet(train_dataset / kind / "data")
    return frame[frame["snapshot"] == frame["snapshot"].max()].head(3000).reset_index(drop=True)


@pytest.mark.parametrize("kind", KINDS)
def test_registry_round_trip_reproduces_scores_exactly(
    trained_home: Path, train_dataset: Path, kind: str
) -> None:
    import mlflow.pyfunc

    from models.registry import load_by_alias

    settings = Settings(home=trained_home)
    loaded = load_by_alias(
        settings.tracking_uri, f"loyalty-{kind}", "challenger", settings.model_cache_dir
    )
    rows = _holdout(train_dataset, kind)
    direct = loaded.package.predict(rows)
    mlflow.set_tracking_uri(settings.tracking_uri)  # as a user would; other tests move them
    mlflow.set_registry_uri(settings.tracking_uri)
    pyfunc = mlflow.pyfunc.load_model(f"models:/loyalty-{kind}@challenger")
    as_strings = rows[loaded.package.feature_names].copy()
    for name in loaded.package.categories:
        as_strings[name] = as_strings[name].astype(str)
    served = pyfunc.predict(as_strings)["score"].to_numpy()
    np.testing.assert_array_equal(served, direct)
    assert loaded.version == 1 and loaded.package.metadata["kind"] == kind


def _churn_package(trained_home: Path) -> ModelPackage:
    from models.registry import load_by_alias

    settings = Settings(home=trained_home)
    return load_by_alias(
        settings.tracking_uri, "loyalty-churn", "challenger", settings.model_cache_dir
    ).package


def test_more_recent_complaints_never_lower_churn_risk(
    trained_home: Path, train_dataset: Path
) -> None:
    package = _churn_package(trained_home)
    rows = _holdout(train_dataset, "churn")
    worse = rows.copy()
    worse["complaints_90d"] += 1
    worse["complaints_365d"] += 1
    worse["days_since_last_complaint"] = 1.0
    assert (package.predict(worse) >= package.predict(rows)).all()
    constraints = package.booster.dump_model()["monotone_constraints"]
    names = package.feature_names
    assert constraints[names.index("complaints_90d")] == 1
    assert constraints[names.index("days_since_last_complaint")] == -1


def test_customer_id_format_does_not_change_a_score(
    trained_home: Path, train_dataset: Path
) -> None:
    package = _churn_package(trained_home)
    rows = _holdout(train_dataset, "churn")
    renamed = rows.assign(customer_id=[f"CUST-{i:09d}" for i in rows["customer_id"]])
    np.testing.assert_array_equal(package.predict(renamed), package.predict(rows))


def test_unseen_category_level_scores_as_unknown(trained_home: Path, train_dataset: Path) -> None:
    package = _churn_package(trained_home)
    rows = _holdout(train_dataset, "churn").head(50)
    new = rows.assign(region="a-region-never-seen")
    unknown = rows.assign(region="unknown")
    np.testing.assert_array_equal(package.predict(new), package.predict(unknown))


def test_same_seed_same_model(train_dataset: Path) -> None:
    config = TrainConfig(plots=False)
    first = fit(prepare(train_dataset, "propensity", config), "propensity", config, print)[0]
    second = fit(prepare(train_dataset, "propensity", config), "propensity", config, print)[0]
    assert first.booster.model_to_string() == second.booster.model_to_string()
    assert first.calibrator == second.calibrator


# -- bad input: clear errors, nothing registered ------------------------------------------------
def _copy_dataset(src: Path, dst: Path, kind: str, edit) -> Path:
    frame = pd.read_parquet(src / kind / "data")
    (dst / kind / "data").mkdir(parents=True)
    edit(frame).to_parquet(dst / kind / "data" / "part-00000.parquet", index=False)
    contract = (src / kind / "feature_contract.json").read_text()
    (dst / kind / "feature_contract.json").write_text(contract)
    return dst


def _train(dataset: Path, home: Path, kind: str = "churn", *extra: str):
    return runner.invoke(
        app, ["train", kind, "--dataset", str(dataset), *extra], env={"LOYALTY_HOME": str(home)}
    )


def _nothing_registered(home: Path) -> bool:
    return not (home / "mlflow.db").exists() or not _client(home).search_registered_models()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.assign(churn=0), "one class only"),
        (lambda f: f.drop(columns=["tenure_days"]), "does not match its feature contract"),
        (lambda f: f.assign(tenure_days="long"), "does not match its feature contract"),
        (lambda f: f.groupby("snapshot").head(40), "too few rows"),
        (lambda f: f.iloc[:0], "holds no rows"),
        (lambda f: f[f["snapshot"] >= sorted(f["snapshot"].unique())[-2]], "at least 3 snapshots"),
    ],
    ids=["one-class", "missing-feature", "wrong-dtype", "too-few-rows", "empty", "two-snapshots"],
)
def test_bad_dataset_is_refused_and_nothing_registered(
    train_dataset: Path, tmp_path: Path, edit, message: str
) -> None:
    dataset = _copy_dataset(train_dataset, tmp_path / "ds", "churn", edit)
    result = _train(dataset, tmp_path / "home")
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert _nothing_registered(tmp_path / "home")


def test_unreachable_registry_is_refused_before_training(
    train_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("LOYALTY_MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    result = _train(train_dataset, tmp_path / "home", "risk")
    assert result.exit_code == 2
    assert "unreachable" in result.output and "nothing was trained" in result.output


def test_config_file_typos_are_errors(train_dataset: Path, tmp_path: Path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("seed: 3\nkinds:\n  churn:\n    num_boost_rounds: 10\n")
    result = _train(train_dataset, tmp_path / "home", "churn", "--config", str(config))
    assert result.exit_code == 2
    assert "kinds.churn.num_boost_rounds" in result.output
    assert _nothing_registered(tmp_path / "home")


def test_missing_dataset_folder(tmp_path: Path) -> None:
    result = _train(tmp_path / "nope", tmp_path / "home")
    assert result.exit_code == 2 and "is not a folder" in result.output


def test_new_offer_is_scored_from_its_attributes_without_retraining(
    trained_home: Path, train_dataset: Path
) -> None:
    from models.registry import load_by_alias

    settings = Settings(home=trained_home)
    package = load_by_alias(
        settings.tracking_uri, "loyalty-propensity", "challenger", settings.model_cache_dir
    ).package
    rows = _holdout(train_dataset, "propensity").head(200)
    new_offer = rows.assign(offer_id="OFFER-NEVER-SEEN")
    np.testing.assert_array_equal(package.predict(new_offer), package.predict(rows))
    richer = rows.assign(offer_value=rows["offer_value"] * 4)
    assert not np.array_equal(package.predict(richer), package.predict(rows))


def test_hyperparameter_search_respects_its_time_budget(
    train_dataset: Path,
) -> None:
    import time

    config = TrainConfig(plots=False)
    config.tune.enabled = True
    config.tune.time_budget_s = 3.0
    config.tune.max_trials = 50
    prepared = prepare(train_dataset, "risk", config)
    start = time.perf_counter()
    _, params, trials = fit(prepared, "risk", config, print)
    assert time.perf_counter() - start < 30
    assert len(trials) >= 1 and trials[0]["number"] == 0
    assert params["num_leaves"] == max(trials, key=lambda t: t["value"])["num_leaves"]


def test_small_requests_build_the_same_matrix_as_batches(
    trained_home: Path, train_dataset: Path
) -> None:
    """The service scores a few rows at a time through a faster path: it must agree exactly."""
    from models.registry import load_by_alias

    settings = Settings(home=trained_home)
    package = load_by_alias(
        settings.tracking_uri, "loyalty-propensity", "challenger", settings.model_cache_dir
    ).package
    rows = _holdout(train_dataset, "propensity").head(200).copy()
    rows["region"] = rows["region"].astype(object)
    rows.loc[rows.index[:3], "region"] = "a-region-never-seen"
    rows["age_years"] = rows["age_years"].astype("float64")
    rows.loc[rows.index[3], "age_years"] = np.nan
    batch = package.matrix(rows)
    small = np.vstack([package.matrix(rows.iloc[i : i + 10]) for i in range(0, 200, 10)])
    np.testing.assert_array_equal(small, batch)
    np.testing.assert_array_equal(package.predict(rows.head(10)), package.predict(rows)[:10])
