"""Reviewers and expiry sweeps race in separate processes; each review ends in exactly one state,
its budget follows it, and the audit trail has one verified record per resolution."""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import random
import time

from test_ledger_support import (  # noqa: F401
    Raw,
    invariant_problems,
    key_lines,
    pg_url_fixture,
    sqlite_url_fixture,
    url_fixture,
)

from guardrails.ledger import Status
from guardrails.ledger.stores import open_stores
from guardrails.review import ReviewError

KEYS = {"audit_key": b"a" * 32, "pseudonym_key": b"p" * 32}
LIMITS = {"contract": 10_000, "partner": 10_000, "customer": 10_000, "offer": 10_000}


RACE_S = 3.0


def _start(ready, go) -> float:
    """Report ready, wait for the reviews to exist, then race for RACE_S seconds: process
    start-up (slow under load) never eats into the reviews' time to live."""
    ready.release()
    go.wait(60)
    return time.time() + RACE_S


def reviewer(url: str, seed: int, ready, go) -> None:
    rng = random.Random(seed)
    with open_stores(url, **KEYS) as stores:
        until = _start(ready, go)
        while time.time() < until:
            pending = stores.reviews.list()
            if not pending:
                time.sleep(0.01)
                continue
            review = rng.choice(pending)
            resolve = stores.reviews.approve if rng.random() < 0.6 else stores.reviews.reject
            # someone else may have resolved it first, or it may have run out of time
            with contextlib.suppress(ReviewError):
                resolve(review.id, f"reviewer-{seed}")


def sweeper(url: str, ready, go) -> None:
    with open_stores(url, **KEYS) as stores:
        until = _start(ready, go)
        while time.time() < until:
            stores.reviews.expire()
            stores.ledger.expire()
            time.sleep(0.005)


def test_reviews_resolve_once_under_racing_processes(url: str) -> None:
    rng = random.Random(3)
    ctx = mp.get_context("spawn")
    ready, go = ctx.Semaphore(0), ctx.Event()
    procs = [ctx.Process(target=reviewer, args=(url, s, ready, go)) for s in (1, 2)]
    procs.append(ctx.Process(target=sweeper, args=(url, ready, go)))
    for p in procs:
        p.start()
    for _ in procs:
        assert ready.acquire(timeout=60)
    with open_stores(url, **KEYS) as stores:
        for i in range(40):
            key = f"k{i}"
            r = stores.ledger.reserve(key, f"d{i}", "x", key_lines(key, LIMITS), ttl_s=30)
            # a quarter are out of time at once: only expiry may end them; the rest race
            ttl = 0.001 if i % 4 == 0 else rng.uniform(0.3, 2.5)
            stores.reviews.submit(f"d{i}", r.id, ttl_s=ttl, reason="risk",
                                  summary={"contract_id": "C1"})  # fmt: skip
    go.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    expected = {"approved": Status.COMMITTED, "rejected": Status.RELEASED,
                "expired": Status.EXPIRED}  # fmt: skip
    with open_stores(url, **KEYS) as stores:
        stores.reviews.expire(now=time.time() + 10)
        reviews = stores.reviews.list(status=None)
        assert len(reviews) == 40 and all(r.status in expected for r in reviews)
        for r in reviews:
            assert stores.ledger.get(r.reservation_id).status is expected[r.status]
        events = [json.loads(row.body)["event"] for row in stores.audit.rows()]
        assert sorted(events) == sorted(f"review.{r.status}" for r in reviews)
        assert stores.audit.verify().ok
        assert {r.status for r in reviews} == set(expected)
    raw = Raw(url)
    assert invariant_problems(raw) == []
    raw.close()
