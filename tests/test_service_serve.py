"""One real ``loyalty serve`` (``bentoml serve``) subprocess on a free 127.0.0.1 port, stopped by
the test: public routes, scoped routes, a decision and Prometheus metrics over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from loyalty.processes import stop_tree
from serving.schemas import EXAMPLE_DECIDE, EXAMPLE_SCORE
from tests.service_support import OPER, ORCH, build_home

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(trained_home, sim_dir, tmp_path_factory):
    import httpx

    values = build_home(trained_home, sim_dir, tmp_path_factory.mktemp("serve") / "home")
    port = _free_port()
    cmd = [sys.executable, "-m", "loyalty.cli", "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, env={**os.environ, **values}, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            assert proc.poll() is None, "the server exited during start-up"
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("the service did not become ready in 120 s")
        yield url
    finally:
        stop_tree(proc)


def test_real_server_answers_scores_decisions_and_metrics(server):
    import httpx

    assert httpx.get(f"{server}/healthz").status_code == 200
    assert httpx.post(f"{server}/decide", json=EXAMPLE_DECIDE).status_code == 401
    r = httpx.post(f"{server}/score", json=EXAMPLE_SCORE, headers=ORCH)
    assert r.status_code == 200 and len(r.json()["results"]) == 2
    d = httpx.post(f"{server}/decide", json=EXAMPLE_DECIDE, headers=ORCH)
    assert d.status_code == 200, d.text
    got = httpx.get(f"{server}/decisions/{d.json()['decision_id']}", headers=ORCH)
    assert got.status_code == 200 and got.json()["decision_id"] == d.json()["decision_id"]
    assert httpx.get(f"{server}/metrics").status_code == 401
    m = httpx.get(f"{server}/metrics", headers=OPER)
    assert m.status_code == 200
    assert "loyalty_decisions_total" in m.text and "loyalty_model_version" in m.text
