"""Outages of what the service depends on, made real (no monkeypatching).

- Registry: the tracking URI points at a port where nothing listens. The service starts from the
  last known good models in its model cache, is ready, says ``models_source: cache`` in its
  readiness detail, and decides.
- Ledger: the service runs on a PostgreSQL server of its own (initdb + pg_ctl on a free port in a
  temporary folder), which is stopped under load. Decisions fail closed (503 with a message that
  names the ledger, never 500), nothing is half-written, and when the server returns the same
  keys are answered and every invariant holds.
"""

from __future__ import annotations

import time
from pathlib import Path

from serving.schemas import EXAMPLE_DECIDE
from tests.reliability.reliability_support import (
    FULL_DECISIONS,
    Orchestrator,
    Server,
    apply_policies,
    customer_pools,
    free_port,
    ledger_problems,
    make_plan,
    orphans,
    running,
    sized,
    summary,
    trail_problems,
    verify_trail,
)
from tests.service_support import CONSENTED, OPER, ORCH


def test_registry_outage_serves_last_known_good_models(home_env, tmp_path: Path) -> None:
    import httpx

    env = {
        **home_env,
        "LOYALTY_MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",  # nothing listens
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "3",
    }
    server = Server(env, tmp_path / "serve.log", workers=1)
    with running(server):
        ready = httpx.post(f"{server.url}/ready", headers=OPER, timeout=30)
        assert ready.status_code == 200, ready.text
        detail = ready.json()
        assert detail["models_source"] == "cache", detail
        assert set(detail["models"]) == {"churn", "propensity", "risk"}
        assert any("registry" in p for p in detail["model_problems"]), detail
        body = {**EXAMPLE_DECIDE, "idempotency_key": "registry-outage-1", "features": CONSENTED}
        d = httpx.post(f"{server.url}/decide", json=body, headers=ORCH, timeout=60)
        assert d.status_code == 200, d.text
        assert d.json()["versions"]["models_source"] == "cache"


def test_ledger_outage_fails_closed_and_recovers(home_env, throwaway_pg, tmp_path: Path) -> None:
    import httpx

    from guardrails.ledger import open_ledger
    from serving.operations import HOLD_TTL_S, REVIEW_TTL_S

    n = sized(FULL_DECISIONS // 10, 150)
    plan = make_plan("outage", n, customer_pools(Path(home_env["LOYALTY_HOME"])))
    env = {**home_env, "LOYALTY_LEDGER_URL": throwaway_pg.url}
    apply_policies(env)
    server = Server(env, tmp_path / "serve.log", workers=2)
    orchestrator = Orchestrator(lambda: [server.url], plan, clients=8, transient=(503,))
    started = time.time()
    with running(server):
        load = orchestrator.start()
        orchestrator.wait_for(n // 3)
        throwaway_pg.stop("immediate")  # the database goes away mid-transaction
        down_at = time.time()
        probe = {**plan.bodies[plan.keys[-1]], "idempotency_key": "outage-probe"}
        seen = []
        while time.time() - down_at < 8:
            r = httpx.post(f"{server.url}/decide", json=probe, headers=ORCH, timeout=60)
            seen.append((r.status_code, r.text))
            time.sleep(0.3)
        ready = httpx.get(f"{server.url}/readyz", timeout=30).status_code
        throwaway_pg.start()
        load.join(timeout=900)
        assert not load.is_alive(), "the load did not finish after the ledger came back"
        after = httpx.post(f"{server.url}/decide", json=probe, headers=ORCH, timeout=60)
    out = orchestrator.out
    report = summary(out, time.time() - started)
    print(f"\nledger outage ({n} decisions): {report}; probe statuses {[s for s, _ in seen]}")
    codes = {s for s, _ in seen}
    assert codes == {503}, f"during the outage /decide answered {seen[:3]}"
    assert all("ledger" in text.lower() for _, text in seen), seen[:3]
    assert ready == 503, f"/readyz said {ready} with the ledger down"
    transient = out.actions.get("_transient", [])
    assert not [t for t in transient if t[1] != 503], transient[:3]
    assert out.retried_errors[503] > 0, "no client request met the outage"
    assert after.status_code == 200, after.text
    assert not out.failures, f"{out.failures[:5]}\n{report}"
    assert len(out.answers) == n, report
    plan.bodies["outage-probe"] = probe
    out.answers["outage-probe"] = [after.json()]
    keys = [*plan.keys, "outage-probe"]
    assert ledger_problems(throwaway_pg.url) == [], report
    assert trail_problems(throwaway_pg.url, out, plan, keys) == [], report
    # A request that reserved and then lost the database before its record leaves a hold that
    # no decision names if its retry decides otherwise: only ever held, and gone after the TTL.
    left = orphans(throwaway_pg.url)
    assert all(status in ("held", "released") for _, _, status in left), left
    with open_ledger(throwaway_pg.url) as ledger:
        ledger.expire(now=time.time() + max(HOLD_TTL_S, REVIEW_TTL_S) + 60)
    assert all(status in ("expired", "released") for _, _, status in orphans(throwaway_pg.url))
    assert ledger_problems(throwaway_pg.url) == []
    print(f"holds no decision names after the outage: {len(left)}")
    verified = verify_trail(env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
