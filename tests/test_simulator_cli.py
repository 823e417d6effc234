"""``loyalty simulate`` through the CLI: determinism, layout, bad arguments, atomic output."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from loyalty.cli import app

runner = CliRunner()


def _simulate(out: Path, *extra: str) -> object:
    return runner.invoke(app, ["simulate", "--customers", "1500", "--out", str(out), *extra])


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "eco"
    result = _simulate(out, "--seed", "3")
    assert result.exit_code == 0, result.output
    return out


def test_layout_and_summary(small: Path) -> None:
    for path in (
        "manifest.json",
        "events/part-00000.parquet",
        "truth/customers.parquet",
        "truth/campaigns.parquet",
        "reference/customers.parquet",
        "reference/partners.parquet",
        "reference/contracts.parquet",
        "reference/offers.parquet",
        "policies/C-P01.yaml",
    ):
        assert (small / path).exists(), path
    manifest = json.loads((small / "manifest.json").read_text())
    assert manifest["customers"] == 1500
    assert manifest["events"] == len(pd.read_parquet(small / "events"))


def test_same_seed_same_data_other_seed_other_data(small: Path, tmp_path: Path) -> None:
    assert _simulate(tmp_path / "again", "--seed", "3").exit_code == 0
    assert _simulate(tmp_path / "other", "--seed", "4").exit_code == 0
    first = pd.read_parquet(small / "events")
    again = pd.read_parquet(tmp_path / "again" / "events")
    other = pd.read_parquet(tmp_path / "other" / "events")
    pd.testing.assert_frame_equal(first, again)
    assert len(first) != len(other) or not first.equals(other)


def test_policies_are_one_yaml_per_contract(small: Path) -> None:
    contracts = pd.read_parquet(small / "reference" / "contracts.parquet")
    files = sorted(p.stem for p in (small / "policies").glob("*.yaml"))
    assert files == sorted(contracts["contract_id"])
    policy = yaml.safe_load((small / "policies" / "C-P01.yaml").read_text())
    offers = pd.read_parquet(small / "reference" / "offers.parquet")
    assert {o["offer_id"] for o in policy["offers"]} == set(
        offers.loc[offers["contract_id"] == "C-P01", "offer_id"]
    )
    assert policy["budget"]["period"] == "quarter"
    assert policy["risk_routing"]["approve_below"] < policy["risk_routing"]["review_below"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "alien_invasion"], "unknown scenario 'alien_invasion'"),
        (["--scenario", "product_launch@2031-01-01"], "outside the simulated history"),
        (["--scenario", "product_launch@soon"], "is not an ISO date"),
        (["--customers", "0"], "--customers must be at least 1"),
        (["--months", "3"], "--months must be between 6 and 120"),
        (["--start", "January"], "--start must be an ISO date"),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "eco"
    size = [] if "--customers" in args else ["--customers", "100"]
    result = runner.invoke(app, ["simulate", "--out", str(out), *size, *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_overwrite_without_force(small: Path) -> None:
    before = (small / "manifest.json").read_text()
    result = _simulate(small)
    assert result.exit_code == 2
    assert "pass --force" in result.output
    assert (small / "manifest.json").read_text() == before


def test_default_size_is_the_demos_and_enough_to_train_risk() -> None:
    import inspect

    from loyalty.commands.demo import DEMO_CUSTOMERS
    from loyalty.commands.simulate import simulate

    default = inspect.signature(simulate).parameters["customers"].default
    assert default == DEMO_CUSTOMERS == 20_000  # README: risk training needs about 20,000
