"""Concurrency: many decisions from 8 clients, with retries, on a small budget.

One service with 2 workers on the embedded SQLite ledger, then two service instances on one
PostgreSQL ledger. After the load the databases are read directly: no scope over its limit,
balances equal to the journal and to the live reservations, exactly one decision record per
answered key, every retry answered like the first, every reservation tied to its decision, and
the audit chain verifies.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.reliability.books_check import books_problems, nothing_for
from tests.reliability.reliability_support import (
    FULL_DECISIONS,
    Orchestrator,
    Plan,
    Server,
    apply_policies,
    customer_pools,
    ledger_problems,
    make_plan,
    orphans,
    running,
    sized,
    summary,
    trail_problems,
    verify_trail,
)


def _check(url: str, env: dict[str, str], plan, out, report: str) -> None:
    assert not out.failures, f"{len(out.failures)} requests failed: {out.failures[:5]}\n{report}"
    assert len(out.answers) == len(plan.inside), report
    assert plan.outside and out.statuses[422] >= len(plan.outside), report
    assert nothing_for(url, plan.outside) == [], report
    assert ledger_problems(url) == [], report
    assert trail_problems(url, out, plan, plan.inside) == [], report
    # every grant counts: no customer over a cap or a contact limit, no other period touched
    assert books_problems(url, plan) == [], report
    # nothing crashed here: no hold may be left that no recorded decision names
    unnamed = orphans(url)
    assert [o for o in unnamed if o[2] == "held"] == [], report
    print(f"holds of raced copies released at once: {len(unnamed)}")
    verified = verify_trail(env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    first = [a[0] for a in out.answers.values()]
    assert any(a["status"] == "approved" for a in first), report
    ran_out = [a for a in first if any(r["code"] == "budget" for r in a["reasons"])]
    assert ran_out, f"the budget never ran out: {report}"


def test_two_workers_sqlite_ledger(home_env, tmp_path: Path) -> None:
    n = sized(FULL_DECISIONS, 300)
    plan = make_plan("cc", n, customer_pools(Path(home_env["LOYALTY_HOME"])), outside=0.1)
    url = f"sqlite:///{Path(home_env['LOYALTY_HOME']) / 'ledger.db'}"
    server = Server(home_env, tmp_path / "serve.log", workers=2)
    with running(server):
        started = time.time()
        out = Orchestrator(lambda: [server.url], plan, clients=8).run()
        took = time.time() - started
    report = summary(out, took)
    print(f"\nconcurrency (2 workers, SQLite, {n} decisions): {report}")
    _check(url, home_env, plan, out, report)


def test_two_instances_one_postgres_ledger(home_env, pg_schema_url, tmp_path: Path) -> None:
    n = sized(FULL_DECISIONS, 200)
    plan = make_plan("pg", n, customer_pools(Path(home_env["LOYALTY_HOME"])), outside=0.1)
    env = {**home_env, "LOYALTY_LEDGER_URL": pg_schema_url}
    apply_policies(env)
    a = Server(env, tmp_path / "a.log", workers=1)
    b = Server(env, tmp_path / "b.log", workers=1)
    with running(a, b):
        started = time.time()
        out = Orchestrator(lambda: [a.url, b.url], plan, clients=8).run()
        took = time.time() - started
    report = summary(out, took)
    print(f"\ntwo instances on PostgreSQL ({n} decisions): {report}")
    _check(pg_schema_url, env, plan, out, report)


def test_two_instances_on_postgres_race_one_customer(home_env, pg_schema_url, tmp_path: Path):
    """Customers who got an offer are then decided again and again, every request for one of
    them at a time, by 8 clients through two service processes sharing one PostgreSQL ledger:
    no customer gets more than each cap and contact limit allows."""
    pools = customer_pools(Path(home_env["LOYALTY_HOME"]))
    env = {**home_env, "LOYALTY_LEDGER_URL": pg_schema_url}
    apply_policies(env)
    a = Server(env, tmp_path / "a.log", workers=1)
    b = Server(env, tmp_path / "b.log", workers=1)
    with running(a, b):
        first = make_plan("seed", sized(200, 100), pools)
        seeded = Orchestrator(lambda: [a.url, b.url], first, clients=8).run()
        lucky = {
            first.bodies[k]["customer_id"]
            for k, answers in seeded.answers.items()
            if answers[0]["reservation_id"]
        }
        assert lucky, "no customer got an offer to race on"
        one = {c: [x for x in customers if x in lucky][:1] or customers[:1]
               for c, customers in pools.items()}  # fmt: skip
        plan = make_plan("one", sized(400, 120), one)
        started = time.time()
        out = Orchestrator(lambda: [a.url, b.url], plan, clients=8).run()
        took = time.time() - started
    report = summary(out, took)
    print(f"\none customer a contract, two instances on PostgreSQL ({len(plan.keys)}): {report}")
    assert not out.failures and not seeded.failures, f"{out.failures[:5]}\n{report}"
    assert ledger_problems(pg_schema_url) == [], report
    both = Plan(
        [*first.keys, *plan.keys], {**first.bodies, **plan.bodies}, set(), set(), set(), set()
    )
    assert books_problems(pg_schema_url, both) == [], report
