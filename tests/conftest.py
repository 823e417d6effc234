"""Shared fixtures: one small simulated ecosystem per test session (a few seconds to build)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
# Decisions reserve only in the current period by the service's clock: every service a test
# starts (in-process or `loyalty serve`) decides on the session ecosystem's calendar, not on
# today's date, so no test depends on the day it runs.
TEST_CLOCK_AT = "2025-10-01T09:30:00Z"
os.environ.setdefault("LOYALTY_ALLOW_TEST_CLOCK", "1")
os.environ.setdefault("LOYALTY_CLOCK_AT", TEST_CLOCK_AT)

SIM_CUSTOMERS = 20_000
SIM_SEED = 11


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20k-customer ecosystem with every drift scenario switched on."""
    from simulator.config import make_config
    from simulator.run import simulate

    out = tmp_path_factory.mktemp("sim") / "eco"
    cfg = make_config(
        SIM_CUSTOMERS,
        seed=SIM_SEED,
        scenarios=[
            "product_launch@2025-06-01",
            "accrual_change@2025-09-01",
            "partner_onboarding@2025-03-01",
            "seasonal_swing@2025-01-01",
        ],
    )
    simulate(cfg, out)
    return out


@pytest.fixture(scope="session")
def sim_events(sim_dir: Path):
    from simulator.summary import read_log

    return read_log(sim_dir, None)


@pytest.fixture(scope="session")
def sim_truth(sim_dir: Path):
    from simulator.truth import Truth

    return Truth.load(sim_dir)


TRAIN_AS_OF = ["2024-09-01", "2024-12-01", "2025-03-01", "2025-06-01", "2025-09-01"]


@pytest.fixture(scope="session")
def train_dataset(sim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five quarterly snapshots of the session ecosystem: train, validate, hold out."""
    from typer.testing import CliRunner

    from loyalty.cli import app

    out = tmp_path_factory.mktemp("train-ds") / "ds"
    args = ["dataset", "build", "--events", str(sim_dir), "--horizon", "90d", "--out", str(out)]
    for t in TRAIN_AS_OF:
        args += ["--as-of", t]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def trained_home(train_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data home whose registry holds all three kinds, trained once per test session."""
    from typer.testing import CliRunner

    from loyalty.cli import app

    home = tmp_path_factory.mktemp("home")
    result = CliRunner().invoke(
        app, ["train", "all", "--dataset", str(train_dataset)], env={"LOYALTY_HOME": str(home)}
    )
    assert result.exit_code == 0, result.output
    return home
