"""Policy feature references are checked against the registered models' feature contracts when
no contract file is given, and `policy simulate` decides only for the contract's customers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import yaml
from test_policy_helpers import doc
from typer.testing import CliRunner

from loyalty.cli import app

runner = CliRunner()
TINY_FEATURES = (
    {"name": "tenure_days", "dtype": "float", "neutral": 0.0},
    {"name": "tier", "dtype": "category", "categories": ["basic", "gold"], "neutral": "basic"},
)


@pytest.fixture(scope="module")
def registered_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data home whose registry holds one churn champion that knows two features only."""
    import mlflow

    from features.contract import FeatureContract
    from models.calibration import Calibrator
    from models.package import ModelPackage
    from training.tracking import log_packaged_model

    home = tmp_path_factory.mktemp("registered")
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.uniform(0, 900, 400), rng.integers(0, 2, 400)])
    label = (x[:, 0] < 300).astype(int)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1}, lgb.Dataset(x, label), 5
    )
    contract = FeatureContract("tiny", TINY_FEATURES)
    package = ModelPackage("churn", contract, booster, Calibrator("none"))
    folder = package.save(home / "package")
    uri = f"sqlite:///{(home / 'mlflow.db').resolve()}"
    example = pd.DataFrame({"tenure_days": [400.0], "tier": ["gold"]})
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        experiment = mlflow.create_experiment("tiny", (home / "artifacts").resolve().as_uri())
        with mlflow.start_run(experiment_id=experiment):
            _, version = log_packaged_model(package, folder, example, "loyalty-churn")
        mlflow.MlflowClient(uri, uri).set_registered_model_alias(
            "loyalty-churn", "champion", str(version)
        )
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    return home


def _policy(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc(**changes)))
    return path


def test_validate_uses_the_registered_contract(registered_home: Path, tmp_path: Path) -> None:
    env = {"LOYALTY_HOME": str(registered_home)}
    ok = runner.invoke(app, ["policy", "validate", str(_policy(tmp_path))], env=env)
    assert ok.exit_code == 0, ok.output
    assert "registered feature contracts of loyalty-churn v1 (champion)" in ok.output
    # a real customer feature, but not one the registered model knows
    policy = _policy(tmp_path, eligibility="customer.complaints_90d < 3")
    result = runner.invoke(app, ["policy", "validate", str(policy), "--json"], env=env)
    assert result.exit_code == 1, result.output
    body = json.loads(result.output)
    assert body["checked_against"].startswith("the registered feature contracts")
    assert any("complaints_90d" in i["message"] for i in body["issues"]), body
    applied = runner.invoke(app, ["policy", "apply", str(policy)], env=env)
    assert applied.exit_code == 2 and "complaints_90d" in applied.output


def test_without_a_registry_the_product_feature_set_is_the_reference(tmp_path: Path) -> None:
    env = {"LOYALTY_HOME": str(tmp_path / "empty")}
    policy = _policy(tmp_path, eligibility="customer.complaints_90d < 3")
    result = runner.invoke(app, ["policy", "validate", str(policy)], env=env)
    assert result.exit_code == 0, result.output
    assert "the product's customer feature set" in result.output
    assert not (tmp_path / "empty").exists()  # validation made no data home


def test_a_contract_file_wins_over_the_registry(registered_home: Path, tmp_path: Path) -> None:
    contract = tmp_path / "feature_contract.json"
    features = [*TINY_FEATURES, {"name": "complaints_90d", "dtype": "int", "neutral": 0}]
    contract.write_text(json.dumps({"version": "x", "features": features}))
    policy = _policy(tmp_path, eligibility="customer.complaints_90d < 3")
    args = ["policy", "validate", str(policy), "--contract", str(contract)]
    result = runner.invoke(app, args, env={"LOYALTY_HOME": str(registered_home)})
    assert result.exit_code == 0, result.output
    assert f"the feature contract {contract}" in result.output.replace("\n", "")


def _table(tmp_path: Path) -> Path:
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "partner_id": ["P1", "P2", "P1", "P2"],
            "tenure_days": 400.0,
            "tier": "gold",
            "consent_marketing": 1,
            "consent_data_sharing": 1,
            "churn": 0.5,
            "risk": 0.1,
            "propensity": 0.4,
        }
    )
    frame.to_parquet(tmp_path / "f.parquet")
    return tmp_path / "f.parquet"


def test_simulate_decides_for_the_contract_customers_only(tmp_path: Path) -> None:
    env = {"LOYALTY_HOME": str(tmp_path / "home")}
    base = ["policy", "simulate", str(_policy(tmp_path)), "--features", str(_table(tmp_path))]
    base += ["--at", "2025-02-01", "--json"]
    mine = runner.invoke(app, base, env=env)
    assert mine.exit_code == 0, mine.output
    body = json.loads(mine.output)
    assert (body["rows_in_table"], body["rows_simulated"], body["decisions"]) == (4, 2, 2)
    every = json.loads(runner.invoke(app, [*base, "--all-customers"], env=env).output)
    assert (every["rows_simulated"], every["decisions"]) == (4, 4)
    other = _policy(tmp_path, partner_id="P9")
    base[2] = str(other)
    none = runner.invoke(app, base, env=env)
    assert none.exit_code == 2
    assert "no rows of partner 'P9' (contract C-1) among 4" in none.output


# --- the check is fast: cached contracts, and nothing to do for content already active ---------


def test_registered_contracts_are_read_from_the_cache_without_mlflow(
    registered_home: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    env = {"LOYALTY_HOME": str(registered_home)}
    policy = _policy(tmp_path, eligibility="customer.tenure_days >= 31")
    first = runner.invoke(app, ["policy", "validate", str(policy)], env=env)  # fills the cache
    assert first.exit_code == 0, first.output
    code = (
        "import sys; from typer.testing import CliRunner; from loyalty.cli import app; "
        f"r = CliRunner().invoke(app, ['policy', 'validate', {str(policy)!r}]); "
        "print(r.exit_code, 'v1 (champion)' in r.output, "
        "[m for m in ('mlflow', 'lightgbm', 'sklearn') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}
    )
    assert out.stdout.split("\n")[-2] == "0 True []", out.stdout + out.stderr


def test_the_cache_follows_the_aliases(registered_home: Path, tmp_path: Path) -> None:
    import shutil

    import mlflow

    from loyalty.commands._policy_contract import _UNKNOWN, cached_contract

    home = tmp_path / "home"
    shutil.copytree(registered_home, home)
    uri, cache = f"sqlite:///{home / 'mlflow.db'}", home / "model-cache"
    env = {"LOYALTY_HOME": str(home)}
    warm = runner.invoke(app, ["policy", "validate", str(_policy(tmp_path))], env=env)
    assert warm.exit_code == 0, warm.output  # the first look-up fills the home's model cache
    contract, label = cached_contract(uri, "loyalty-churn", cache)
    assert (label, [f["name"] for f in contract["features"]]) == (
        "loyalty-churn v1 (champion)",
        ["tenure_days", "tier"],
    )
    assert cached_contract(uri, "loyalty-risk", cache) is None  # registered under no alias
    assert cached_contract(uri, "loyalty-churn", tmp_path / "empty") is _UNKNOWN  # not cached
    assert cached_contract("http://127.0.0.1:5000", "loyalty-churn", cache) is _UNKNOWN
    client = mlflow.MlflowClient(uri, uri)
    client.set_registered_model_alias("loyalty-churn", "challenger", "1")
    client.delete_registered_model_alias("loyalty-churn", "champion")
    assert cached_contract(uri, "loyalty-churn", cache)[1] == "loyalty-churn v1 (challenger)"
    client.delete_registered_model_alias("loyalty-churn", "challenger")
    assert cached_contract(uri, "loyalty-churn", cache) is None


def test_applying_the_active_content_again_needs_no_registry(tmp_path: Path) -> None:
    home = tmp_path / "home"
    policy = _policy(tmp_path)
    env = {"LOYALTY_HOME": str(home)}
    assert runner.invoke(app, ["policy", "apply", str(policy)], env=env).exit_code == 0
    (home / "mlflow.db").write_text("not a database")  # a registry that cannot answer
    again = runner.invoke(app, ["policy", "apply", str(policy)], env=env)
    assert again.exit_code == 0, again.output
    assert "is already active" in again.output
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(doc(eligibility="customer.tenure_days >= 60")))
    refused = runner.invoke(app, ["policy", "apply", str(changed)], env=env)
    assert refused.exit_code == 2 and isinstance(refused.exception, SystemExit)
    assert "cannot answer (DatabaseError" in refused.output
