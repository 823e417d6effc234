"""The reliability suite's set-up: every test here is marked ``reliability`` (run with
``make reliability``; ``make test`` leaves them out), and one data home is built per session:
champions promoted, policies applied (the load contract with a small monthly budget, one
contract routed to review), features materialized and the model cache filled, so a registry
outage can be served from the last known good models.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.reliability)


@pytest.fixture(scope="session")
def rel_home(request, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The session's data home (copy it per test with ``copy_home``) and its environment.

    ``LOYALTY_RELIABILITY_HOME=DIR`` keeps the built home in DIR and reuses it on later runs
    (saves the ~2 minutes of simulating and training when iterating on the suite)."""
    import shutil

    from tests.service_support import TOKENS

    keep = os.environ.get("LOYALTY_RELIABILITY_HOME")
    if keep and (Path(keep) / "model-cache" / "serving.json").exists():
        home = Path(keep)
    else:
        home = _build(request, tmp_path_factory.mktemp("reliability") / "home")
        if keep:
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(home, keep)
            home = Path(keep)
    values = {
        "LOYALTY_HOME": str(home),
        "LOYALTY_TOKENS": TOKENS,
        "LOYALTY_MODEL_POLL_S": "3600",
        "LOYALTY_SHADOW": "false",  # no challengers here: one model set per worker
    }
    return home, values


def _build(request, home: Path) -> Path:
    from typer.testing import CliRunner

    from loyalty.cli import app
    from serving.model_set import load_models
    from tests.reliability.reliability_support import LOAD_CONTRACT, small_budget_policy
    from tests.service_support import build_home, env

    trained_home = request.getfixturevalue("trained_home")
    sim_dir = request.getfixturevalue("sim_dir")
    values = build_home(trained_home, sim_dir, home)
    policy = home / "policies-in" / f"{LOAD_CONTRACT}.yaml"
    policy.write_text(small_budget_policy(policy.read_text()))
    with env(values):
        result = CliRunner().invoke(app, ["policy", "apply", str(policy)])
        assert result.exit_code == 0, result.output
    uri = f"sqlite:///{(home / 'mlflow.db').resolve()}"
    names = {k: f"loyalty-{k}" for k in ("churn", "propensity", "risk")}
    models = load_models(uri, names, home / "model-cache", shadow=False)
    assert models.source == "registry" and len(models.champions) == 3
    assert (home / "model-cache" / "serving.json").exists()
    # ledger.db stays: it holds the policy store (the ledger itself is still empty)
    return home


@pytest.fixture
def home_env(rel_home, tmp_path) -> dict[str, str]:
    """A private copy of the session's data home for one test."""
    from tests.reliability.reliability_support import copy_home

    base, values = rel_home
    return copy_home(base, tmp_path / "home", values)


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A fresh schema on the shared PostgreSQL server (127.0.0.1:5432), dropped after the test;
    skipped loudly when the server cannot be reached."""
    from test_ledger_support import fresh_schema

    yield from fresh_schema("t_rel", "two-instance reliability check")


@pytest.fixture
def throwaway_pg() -> Iterator:
    """A private PostgreSQL server on a free port in a temporary folder, stopped and removed
    after the test (never the shared server on 5432)."""
    import shutil
    import tempfile

    from tests.reliability.reliability_support import ThrowawayPostgres, pg_bin

    try:
        pg_bin("initdb"), pg_bin("pg_ctl")
    except FileNotFoundError as exc:
        pytest.skip(f"POSTGRESQL BINARIES MISSING - ledger outage check SKIPPED: {exc}")
    # not under pytest's tmp folder: as root the server runs as ``postgres``, who cannot
    # enter pytest's 0700 folders
    root = Path(tempfile.mkdtemp(prefix="loyalty-rel-pg-"))
    pg = ThrowawayPostgres(root / "cluster").init()
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
