"""``loyalty score-batch``: exact scores and versions, offers per partner, Spark parity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from loyalty.cli import app
from loyalty.settings import Settings

runner = CliRunner()


@pytest.fixture(scope="module")
def base(train_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One row per customer: the last snapshot of the churn set, as a Parquet file."""
    frame = pd.read_parquet(train_dataset / "churn" / "data")
    last = frame[frame["snapshot"] == frame["snapshot"].max()].drop(columns=["churn"])
    path = tmp_path_factory.mktemp("base") / "features.parquet"
    last.to_parquet(path, index=False)
    return path


def _score(home: Path, features: Path, out: Path, *extra: str):
    args = ["score-batch", "--features", str(features), "--out", str(out), "--alias", "challenger"]
    return runner.invoke(app, [*args, *extra], env={"LOYALTY_HOME": str(home)})


@pytest.fixture(scope="module")
def local_out(trained_home: Path, base: Path, sim_dir: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("scores") / "local"
    result = _score(trained_home, base, out, "--offers", str(sim_dir), "--explain-top", "50")
    assert result.exit_code == 0, result.output
    return out


def _consented(features: pd.DataFrame) -> pd.DataFrame:
    """The rows batch scoring may score: data sharing not withdrawn."""
    return features[features["consent_data_sharing"] != 0].reset_index(drop=True)


def _package(home: Path, kind: str):
    from models.registry import load_by_alias

    s = Settings(home=home)
    return load_by_alias(s.tracking_uri, f"loyalty-{kind}", "challenger", s.model_cache_dir)


def test_customer_scores_equal_the_packaged_models_with_versions_on_every_row(
    trained_home: Path, base: Path, local_out: Path
) -> None:
    scores = pd.read_parquet(local_out / "customers")
    every = pd.read_parquet(base)
    features = _consented(every)  # withdrawn data sharing: never scored, only counted
    assert 0 < len(features) < len(every)
    assert scores["customer_id"].tolist() == features["customer_id"].tolist()
    summary = json.loads((local_out / "summary.json").read_text())
    assert summary["skipped_no_consent"] == len(every) - len(features)
    for kind in ("churn", "risk"):
        loaded = _package(trained_home, kind)
        np.testing.assert_array_equal(scores[kind], loaded.package.predict(features))
        assert (scores[f"{kind}_model"] == f"loyalty-{kind}/{loaded.version}").all()


def test_each_customer_gets_the_offers_of_its_partner(
    trained_home: Path, base: Path, local_out: Path, sim_dir: Path
) -> None:
    pairs = pd.read_parquet(local_out / "offers")
    features = _consented(pd.read_parquet(base))
    offers = pd.read_parquet(sim_dir / "reference" / "offers.parquet")
    contracts = pd.read_parquet(sim_dir / "reference" / "contracts.parquet")
    per_partner = (
        offers.merge(contracts[["contract_id", "partner_id"]]).groupby("partner_id").size()
    )
    expected = features["partner_id"].astype(str).map(per_partner).fillna(0).sum()
    assert len(pairs) == expected and pairs["propensity"].between(0, 1).all()
    one = pairs.iloc[0]
    row = features[features["customer_id"] == one["customer_id"]]
    offer = offers[offers["offer_id"] == one["offer_id"]].iloc[0]
    pair = row.assign(
        offer_type=offer["offer_type"],
        offer_value=float(offer["value"]),
        offer_points_cost=float(offer["points_cost"]),
        offer_valid_days=float(offer["valid_days"]),
        offer_channel=offer["channel"],
    )
    assert _package(trained_home, "propensity").package.predict(pair)[0] == one["propensity"]


def test_reason_codes_for_the_customers_most_at_risk(local_out: Path) -> None:
    reasons = pd.read_parquet(local_out / "reasons.parquet")
    scores = pd.read_parquet(local_out / "customers")
    top = set(scores.sort_values("churn", ascending=False, kind="stable")["customer_id"][:50])
    churn = reasons[reasons["kind"] == "churn"]
    assert set(churn["customer_id"]) == top
    assert churn.groupby("customer_id")["rank"].max().le(3).all()
    assert churn["words"].str.contains(r"\((?:raises|lowers) churn risk\)").all()


def test_spark_engine_gives_identical_results(
    trained_home: Path, base: Path, sim_dir: Path, local_out: Path, tmp_path: Path
) -> None:
    """The same rows as a folder of two files with several row groups each (one Spark task per
    row group; the customers to explain are spread over them): the same results as local."""
    frame, folder = pd.read_parquet(base), tmp_path / "features"
    folder.mkdir()
    half = len(frame) // 2
    for n, part in enumerate((frame.iloc[:half], frame.iloc[half:])):
        part.to_parquet(folder / f"part-{n}.parquet", index=False, row_group_size=len(part) // 3)
    out = tmp_path / "spark"
    args = ("--offers", str(sim_dir), "--explain-top", "50", "--engine", "spark")
    result = _score(trained_home, folder, out, *args)
    assert result.exit_code == 0, result.output
    for part, keys in (
        ("customers", ["customer_id"]),
        ("offers", ["customer_id", "offer_id"]),
        ("reasons.parquet", ["customer_id", "kind", "rank"]),
    ):
        local = pd.read_parquet(local_out / part).sort_values(keys).reset_index(drop=True)
        spark = pd.read_parquet(out / part).sort_values(keys).reset_index(drop=True)
        pd.testing.assert_frame_equal(local, spark, check_exact=True)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.drop(columns=["tenure_days"]), "missing column 'tenure_days'"),
        (
            lambda f: f.assign(tenure_days="long"),
            "column 'tenure_days' is string, expected a number",
        ),
        (lambda f: f.assign(region=1), "column 'region' is int64, expected text"),
    ],
    ids=["missing-column", "text-for-number", "number-for-category"],
)
def test_bad_features_are_refused_before_any_work(
    trained_home: Path, base: Path, tmp_path: Path, edit, message: str
) -> None:
    bad = tmp_path / "bad.parquet"
    edit(pd.read_parquet(base)).to_parquet(bad, index=False)
    result = _score(trained_home, bad, tmp_path / "out")
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


def test_unknown_alias_is_refused(trained_home: Path, base: Path, tmp_path: Path) -> None:
    args = ["score-batch", "--features", str(base), "--out", str(tmp_path / "o"), "--alias", "nope"]
    result = runner.invoke(app, args, env={"LOYALTY_HOME": str(trained_home)})
    assert result.exit_code == 2 and "alias 'nope'" in result.output
    assert not (tmp_path / "o").exists()
