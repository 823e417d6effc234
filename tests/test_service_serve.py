"""One real ``loyalty serve`` (``bentoml serve``) subprocess on a free 127.0.0.1 port, stopped by
the test: public routes, scoped routes, a decision and Prometheus metrics over real HTTP, and
its log (no download bars, a client gone mid-body as one info line)."""

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

ORCH_HEADER = f"Authorization: {ORCH['Authorization']}"

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(trained_home, sim_dir, tmp_path_factory):
    import httpx

    root = tmp_path_factory.mktemp("serve")
    values = build_home(trained_home, sim_dir, root / "home")  # no model cache: downloads
    port = _free_port()
    cmd = [sys.executable, "-m", "loyalty.cli", "serve", "--port", str(port)]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"}
    log = (root / "serve.log").open("wb")
    proc = subprocess.Popen(
        cmd, env={**env, **values}, start_new_session=True, stdout=log, stderr=subprocess.STDOUT
    )
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
        yield url, root / "serve.log"
    finally:
        stop_tree(proc)
        log.close()


def test_real_server_answers_scores_decisions_and_metrics(server):
    import httpx

    server, _ = server
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


def test_real_server_log_has_no_download_bars_and_one_line_for_a_client_gone_mid_body(server):
    """Models came from the registry (no cache): MLflow drew no tqdm bars. A client that sends
    half a body and hangs up is one info line: no traceback, no 500."""
    import httpx

    url, log = server
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST /decide HTTP/1.1\r\nHost: {host}\r\n{ORCH_HEADER}\r\n"
        "Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n"
    )
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(head.encode() + b'{"idempotency_key": "gone-mid-body')
        time.sleep(0.5)
    deadline = time.time() + 10
    while "went away" not in log.read_text() and time.time() < deadline:
        time.sleep(0.2)
    assert httpx.get(f"{url}/healthz").status_code == 200  # still serving
    text = log.read_text()
    assert "Downloading artifacts" not in text and "iB/s" not in text
    assert text.count("went away") == 1, text[-2000:]
    assert "Traceback" not in text and '" 500' not in text and " 500 " not in text, text[-2000:]
