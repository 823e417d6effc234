"""``loyalty serve`` with nothing to serve exits 2 at once with one line that says what to run
first, instead of a worker crash loop; a registry outage with last known good models still
starts (tests/reliability/test_rel_outages.py serves from them)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loyalty.cli import app

runner = CliRunner()
NAMES = {k: f"loyalty-{k}" for k in ("churn", "propensity", "risk")}
FIRST_STEPS = (
    "run `loyalty demo` first (the whole loop on embedded defaults), or `loyalty train all "
    "--dataset DIR && loyalty promote KIND --dataset DIR` for each of churn, propensity, risk"
)
NONE_SERVED = (
    "no version of model 'loyalty-churn' has alias 'champion' (nor of 'loyalty-propensity' "
    f"or 'loyalty-risk'): nothing to serve; {FIRST_STEPS}"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("LOYALTY_HOME", str(home))
    monkeypatch.setenv("LOYALTY_TOKENS", "t=orchestrator")
    for name in ("LOYALTY_MLFLOW_TRACKING_URI", "LOYALTY_TOKENS_FILE", "LOYALTY_MODEL_NAME_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    return home


def test_an_empty_data_home_exits_2_at_once_with_what_to_run_first(serve_env: Path) -> None:
    started = time.monotonic()
    result = runner.invoke(app, ["serve", "--port", str(_free_port())])
    elapsed = time.monotonic() - started
    assert result.exit_code == 2, result.output
    assert result.output == f"error: {NONE_SERVED}\n"
    assert elapsed < 5, f"took {elapsed:.1f} s"
    assert not serve_env.exists()  # no empty registry made on the way


@pytest.fixture
def registry(serve_env: Path) -> str:
    """A real SQLite registry holding one version of each kind; only churn is champion."""
    from mlflow import MlflowClient

    serve_env.mkdir(parents=True)
    uri = f"sqlite:///{(serve_env / 'mlflow.db').resolve()}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    for kind, name in NAMES.items():
        client.create_registered_model(name)
        version = client.create_model_version(name, str(serve_env / kind), run_id=None)
        client.set_registered_model_alias(name, "challenger", version.version)
    client.set_registered_model_alias(NAMES["churn"], "champion", "1")
    return uri


def test_kinds_without_a_champion_are_named_before_bentoml_starts(registry: str) -> None:
    from serving.model_set import missing_champions

    assert missing_champions(registry, list(NAMES.values())) == [
        "loyalty-propensity",
        "loyalty-risk",
    ]
    started = time.monotonic()
    result = runner.invoke(app, ["serve", "--port", str(_free_port())])
    assert result.exit_code == 2, result.output
    assert result.output == (
        "error: no version of model 'loyalty-propensity' has alias 'champion' (nor of "
        f"'loyalty-risk'): nothing to serve; {FIRST_STEPS}\n"
    )
    assert time.monotonic() - started < 5


def test_a_registry_that_answers_no_champion_is_not_hidden_by_the_model_cache(
    registry: str, serve_env: Path
) -> None:
    """The worker's own load (what runs when the pre-check cannot read the registry): the
    last known good models are for outages, not for a registry that says there is no
    champion."""
    from serving.model_set import CannotServeError, load_models

    cache = serve_env / "model-cache"
    cache.mkdir()
    record = {k: {"name": n, "version": 1, "run_id": "r"} for k, n in NAMES.items()}
    (cache / "serving.json").write_text(json.dumps(record))
    with pytest.raises(CannotServeError) as caught:
        load_models(registry, NAMES, cache)
    assert str(caught.value).startswith(
        "no version of model 'loyalty-propensity' has alias 'champion' (nor of 'loyalty-risk')"
    )


def test_an_unreachable_registry_without_last_known_good_models_cannot_serve(
    serve_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from serving.model_set import CannotServeError, load_models, missing_champions

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    uri = f"http://127.0.0.1:{_free_port()}"  # nothing listens
    assert missing_champions(uri, list(NAMES.values())) is None  # the worker decides
    with pytest.raises(CannotServeError) as caught:
        load_models(uri, NAMES, serve_env / "model-cache")
    text = str(caught.value)
    assert text.startswith(f"the model registry at {uri} cannot answer (MlflowException: ")
    assert text.endswith(
        f"and no last known good models are recorded in {serve_env / 'model-cache'}: start the "
        "registry, or set LOYALTY_MLFLOW_TRACKING_URI to one that answers"
    )


@pytest.mark.slow
def test_a_worker_that_cannot_serve_stops_the_server_with_one_line(tmp_path: Path) -> None:
    """A real `loyalty serve` (BentoML arbiter and worker) whose worker cannot load models:
    one error line in the log, no traceback, no restarts, the port freed, exit 2."""
    port, registry = _free_port(), f"http://127.0.0.1:{_free_port()}"
    env = {
        **os.environ,
        "LOYALTY_HOME": str(tmp_path / "home"),
        "LOYALTY_TOKENS": "t=orchestrator",
        "LOYALTY_MLFLOW_TRACKING_URI": registry,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "3",
    }
    cmd = [sys.executable, "-m", "loyalty.cli", "serve", "--port", str(port)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 2, log[-4000:]
    assert "Traceback" not in log
    assert log.count("cannot start: the model registry at") == 1, log[-4000:]
    assert log.splitlines()[-1].startswith(f"error: the model registry at {registry} cannot")
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # free again
