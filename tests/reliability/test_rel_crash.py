"""Crash: SIGKILL under load, then restart.

A worker is killed with SIGKILL while 8 clients send decisions, later the whole serve process
group is, and the service is started again on the same data home. Clients retry what failed
(same key, same payload), as an orchestrator must. Afterwards: no partial state (the ledger's
invariants hold, every answered key has exactly one decision record and its reservation), holds
that lost their decision are only ever held and go back when their TTL passes, and the audit
chain verifies.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.reliability.reliability_support import (
    FULL_DECISIONS,
    Orchestrator,
    Server,
    customer_pools,
    ledger_problems,
    make_plan,
    orphans,
    sized,
    summary,
    trail_problems,
    verify_trail,
)


def test_kill9_worker_then_whole_service_and_restart(home_env, tmp_path: Path) -> None:
    from guardrails.ledger import open_ledger
    from serving.operations import HOLD_TTL_S, REVIEW_TTL_S

    n = sized(FULL_DECISIONS // 5, 200)
    plan = make_plan("crash", n, customer_pools(Path(home_env["LOYALTY_HOME"])))
    url = f"sqlite:///{Path(home_env['LOYALTY_HOME']) / 'ledger.db'}"
    server = Server(home_env, tmp_path / "serve.log", workers=2)
    current = {"url": server.url}
    orchestrator = Orchestrator(lambda: [current["url"]], plan, clients=8, give_up_s=600)
    started = time.time()
    try:
        server.start()
        load = orchestrator.start()
        orchestrator.wait_for(n // 4)
        workers = server.worker_pids()
        assert workers, "no worker process found in the serve process group"
        os.kill(workers[0], signal.SIGKILL)  # one worker dies mid-request
        orchestrator.wait_for(n // 2)
        server.kill9()  # then the whole service, arbiter and workers at once
        time.sleep(1.0)
        server = Server(home_env, tmp_path / "serve2.log", workers=2).start()
        current["url"] = server.url  # the orchestrator is told where the service is now
        load.join(timeout=1200)
        assert not load.is_alive(), "the load did not finish"
    finally:
        server.stop()
    out = orchestrator.out
    took = time.time() - started
    report = summary(out, took)
    print(f"\ncrash ({n} decisions, worker and service killed): {report}")
    assert not out.failures, f"{out.failures[:5]}\n{report}"
    assert len(out.answers) == n, report
    assert ledger_problems(url) == [], report
    assert trail_problems(url, out, plan, plan.keys) == [], report
    # A request killed between its reservation and its record leaves a hold no decision names;
    # the client's retry resolves it or the TTL returns it. Either way it is only ever "held".
    left = orphans(url)
    assert all(status in ("held", "released") for _, _, status in left), left
    with open_ledger(url) as ledger:
        later = time.time() + max(HOLD_TTL_S, REVIEW_TTL_S) + 60
        ledger.expire(now=later)
        assert not _held(url), "holds outlived their TTL"
        assert ledger.reconcile() == []
    assert all(status in ("expired", "released") for _, _, status in orphans(url))
    assert ledger_problems(url) == []
    verified = verify_trail(home_env)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _held(url: str) -> list[tuple]:
    from test_ledger_support import Raw

    db = Raw(url)
    try:
        return db.all("SELECT id FROM reservations WHERE status = 'held'")
    finally:
        db.close()
