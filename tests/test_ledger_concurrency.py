"""Several OS processes hammer one ledger; the invariants are read from the database directly.

Workers (spawned processes, not threads) reserve, retry, commit, release, cancel and expire at
random on a small budget while the parent snapshots the raw tables and checks, every time: no
scope's held + committed amount exceeds its limit, balances equal the journal and the live
reservations, every reservation's journal matches its status, and every key maps to one
reservation. Processes killed with SIGKILL in the middle of a transaction leave nothing behind.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time

import pytest
from test_ledger_support import (  # noqa: F401
    Raw,
    invariant_problems,
    key_lines,
    pg_url_fixture,
    sqlite_url_fixture,
    url_fixture,
)

from guardrails.ledger import (
    IdempotencyConflictError,
    InvalidTransitionError,
    Reservation,
    Status,
    open_ledger,
)

LIMITS = {"contract": 40, "partner": 60, "customer": 7, "offer": 25}
KEYS = 80


def _reserve(ledger, rng: random.Random, answers: list, counts: dict) -> str:
    key = f"k{rng.randrange(KEYS)}"
    lines = key_lines(key, LIMITS)
    r = ledger.reserve(key, f"d-{key}", f"digest-{key}", lines, ttl_s=rng.choice([0.05, 0.3, 30]))
    answers.append((key, r.id))
    counts["replays"] += r.replayed
    if rng.random() < 0.3:  # the caller timed out and retries at once
        answers.append((key, ledger.reserve(key, f"d-{key}", f"digest-{key}", lines, 30).id))
    if rng.random() < 0.05:  # a buggy caller reuses a key for another payload
        try:
            ledger.reserve(key, "other", "another digest", lines, 30)
        except IdempotencyConflictError:
            counts["conflicts"] += 1
        else:
            raise AssertionError(f"key {key} reused with another digest was accepted")
    return r.id


def _settle(ledger, roll: float, rid: str, counts: dict) -> None:
    try:
        if roll < 0.7:
            ledger.commit(rid)
        elif roll < 0.8:
            ledger.release(rid, "not sent")
        elif roll < 0.9:
            ledger.cancel(rid, "cancelled")
        elif roll < 0.95:
            ledger.reverse(rid, "returned")
        else:
            ledger.expire()
    except InvalidTransitionError:
        counts["invalid"] += 1


def hammer(url: str, seed: int, ops: int, out) -> None:
    """One worker: random operations with retries; reports every key -> id it was answered."""
    rng = random.Random(seed)
    ledger = open_ledger(url)
    answers: list[tuple[str, str]] = []
    rids: list[str] = []
    counts = {"conflicts": 0, "replays": 0, "invalid": 0}
    for _ in range(ops):
        roll = rng.random()
        if roll < 0.5 or not rids:
            rids.append(_reserve(ledger, rng, answers, counts))
        else:
            _settle(ledger, roll, rng.choice(rids), counts)
    ledger.close()
    out.put((answers, counts))


def _run_workers(url: str, n: int, ops: int) -> tuple[dict, list[str]]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=hammer, args=(url, seed, ops, out)) for seed in range(n)]
    for p in procs:
        p.start()
    raw, problems, snapshots, results = Raw(url), [], 0, []
    deadline = time.monotonic() + 120
    while len(results) < n and time.monotonic() < deadline:
        problems += invariant_problems(raw)  # checked while the workers run
        snapshots += 1
        while not out.empty():
            results.append(out.get())
        time.sleep(0.01)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0, f"worker {p.pid} exited with {p.exitcode}"
    problems += invariant_problems(raw)
    keys = raw.all("SELECT idempotency_key, id FROM reservations")
    raw.close()
    return {"results": results, "snapshots": snapshots, "keys": dict(keys)}, problems


def test_processes_never_overspend_nor_double_reserve(url: str) -> None:
    open_ledger(url).close()  # migrate once before the race
    run, problems = _run_workers(url, n=3, ops=250)
    assert problems == [], problems[:10]
    assert run["snapshots"] >= 3
    stored = run["keys"]
    by_key: dict[str, set[str]] = {}
    for answers, _ in run["results"]:
        for key, rid in answers:
            by_key.setdefault(key, set()).add(rid)
    for key, rids in by_key.items():
        assert rids == {stored[key]}, f"key {key} was answered with {rids}"
    totals = {k: sum(c[k] for _, c in run["results"]) for k in ("conflicts", "replays")}
    assert totals["replays"] > 0 and totals["conflicts"] > 0  # the paths were exercised
    with open_ledger(url) as ledger:
        assert ledger.reconcile() == []
        statuses = {ledger.get(rid).status for rid in stored.values()}
    assert Status.REJECTED in statuses and Status.COMMITTED in statuses  # the budget was tight


def hold_open(url: str, operation: str, rid: str | None, ready) -> None:
    """Start a reservation (or a commit) inside a transaction, say so, then hang until killed."""
    from guardrails.ledger.postgres_ledger import RESERVE_SQL, reserve_params
    from guardrails.ledger.sql_ledger import new_id

    ledger = open_ledger(url)
    lines = key_lines("killed", LIMITS)
    now = time.time()
    fresh = Reservation(new_id(), "killed", "d-killed", "x", Status.HELD, tuple(
        sorted(lines, key=lambda ln: ln.scope.id)), now, now + 60)  # fmt: skip

    def body(tx):
        if operation == "commit":
            ledger.settle_in(tx, rid, "commit", time.time(), None)
        elif ledger.db.dialect == "postgresql":
            tx.execute(RESERVE_SQL.replace("%s", "?"), reserve_params(fresh))
        else:
            ledger.reserve_in(tx, fresh)
        ready.set()
        time.sleep(600)

    ledger.db.run(body)


@pytest.mark.parametrize("operation", ["reserve", "commit"])
def test_sigkill_mid_transaction_leaves_no_partial_state(url: str, operation: str) -> None:
    with open_ledger(url) as ledger:
        held = ledger.reserve("held", "d-held", "x", key_lines("held", LIMITS), ttl_s=600)
        before = {b.scope: (b.reserved, b.committed) for b in ledger.balances()}
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=hold_open, args=(url, operation, held.id, ready))
    proc.start()
    assert ready.wait(60), "the worker never reached the middle of its transaction"
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    assert proc.exitcode == -signal.SIGKILL
    with open_ledger(url) as ledger:
        # the database is usable at once, and shows nothing of the killed transaction
        after_ok = ledger.reserve("next", "d-next", "x", key_lines("next", LIMITS), ttl_s=60)
        assert after_ok.id
        assert ledger.find("killed") is None
        assert ledger.get(held.id).status is Status.HELD
        ledger.release(after_ok.id)
        now = {b.scope: (b.reserved, b.committed) for b in ledger.balances()}
        assert {s: v for s, v in now.items() if s in before} == before
    raw = Raw(url)
    assert invariant_problems(raw) == []
    assert raw.all("SELECT COUNT(*) FROM reservations WHERE decision_id = 'd-killed'") == [(0,)]
    raw.close()


@pytest.mark.slow
def test_random_sigkills_under_load_keep_every_invariant(url: str) -> None:
    open_ledger(url).close()
    ctx = mp.get_context("spawn")
    rng = random.Random(7)
    for round_ in range(6):
        out = ctx.Queue()
        procs = [ctx.Process(target=hammer, args=(url, 100 + round_ * 3 + i, 2000, out))
                 for i in range(3)]  # fmt: skip
        for p in procs:
            p.start()
        time.sleep(1.0 + rng.random() * 2)
        for p in procs:
            os.kill(p.pid, signal.SIGKILL)
            p.join(10)
        raw = Raw(url)
        assert invariant_problems(raw) == []
        raw.close()
    with open_ledger(url) as ledger:
        assert ledger.reconcile() == []
