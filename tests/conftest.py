"""Shared fixtures: one small simulated ecosystem per test session (a few seconds to build)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")

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
