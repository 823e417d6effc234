"""Helpers of the reliability suite: real ``loyalty serve`` processes, an orchestrator-like load
generator with injected retries, a throwaway PostgreSQL server, and the invariants read straight
from the ledger database (no product code decides whether the product is right).

Sizes scale with ``LOYALTY_RELIABILITY_SCALE`` (1.0 = full size: 10k decisions in the
concurrency check; 0.05 = a quick run).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.service_support import CONSENTED, ORCH, REVIEW_CONTRACT

SCALE = float(os.environ.get("LOYALTY_RELIABILITY_SCALE", "1.0"))
FULL_DECISIONS = 10_000
SMALL_BUDGET = 6_000  # points per month for the load contract: a few offers, then the race
LOAD_CONTRACT = "C-P01"
# Every service of the suite runs on the tests' pinned clock (tests/conftest.py): decisions
# reserve only in that period, so the plan dates them in it, plus a share in other periods.
CLOCK = dt.datetime.fromisoformat(
    os.environ.get("LOYALTY_CLOCK_AT", "2025-10-01T09:30:00Z").replace("Z", "+00:00")
)
MONTH_START = CLOCK.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
CLOSED_AT = MONTH_START - dt.timedelta(days=45)  # a closed period of every contract
FUTURE_AT = MONTH_START + dt.timedelta(days=120)  # a period not open yet, monthly or quarterly


def sized(full: int, floor: int) -> int:
    """A count scaled by LOYALTY_RELIABILITY_SCALE, never below ``floor``."""
    return max(floor, round(full * SCALE))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def decision_id_for(key: str) -> str:
    """The service's own derivation (serving/operations.py), restated: keys map to ids."""
    return "d-" + hashlib.sha256(f"decision:{key}".encode()).hexdigest()[:24]


# -- servers ----------------------------------------------------------------------------------
class Server:
    """One ``loyalty serve`` process group on a free 127.0.0.1 port, killed by ``stop``."""

    def __init__(self, env: dict[str, str], log: Path, workers: int = 1) -> None:
        self.env, self.log_path, self.workers = env, log, workers
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait_ready: bool = True, timeout_s: float = 240) -> Server:
        cmd = [sys.executable, "-m", "loyalty.cli", "serve", "--port", str(self.port)]
        cmd += ["--workers", str(self.workers)]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            cmd,
            env={**os.environ, **self.env},
            start_new_session=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        if wait_ready:
            self.wait_ready(timeout_s)
        return self

    def wait_ready(self, timeout_s: float = 240) -> None:
        import httpx

        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise AssertionError(f"the server exited during start-up:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"the service was not ready in {timeout_s:.0f} s:\n{self.tail()}")

    def tree(self) -> list:
        """The serve process and every descendant (BentoML puts each worker in a process
        group of its own, so killing the serve group alone would leave the workers running)."""
        import psutil

        if self.proc is None:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def worker_pids(self) -> list[int]:
        """BentoML's service worker processes."""
        import psutil

        found = []
        for p in self.tree():
            with contextlib.suppress(psutil.Error):
                if "_bentoml_impl.worker" in " ".join(p.cmdline()):
                    found.append(p.pid)
        return found

    def kill9(self) -> None:
        """SIGKILL to the serve process and all its workers at once (a host losing power, as
        far as a test can)."""
        if self.proc is None:
            return
        procs = self.tree()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        _kill_all(procs)
        self.proc.wait()
        self.proc = None
        _kill_all(self.strays())  # a worker respawned while we were killing the others

    def strays(self) -> list:
        """Worker processes of this server's data home whose parent is gone (found by their
        environment's LOYALTY_HOME, unique per test: never another test's or user's server)."""
        import psutil

        home, found = self.env.get("LOYALTY_HOME"), []
        for p in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                if (
                    "_bentoml_impl.worker" in " ".join(p.info["cmdline"] or [])
                    and p.environ().get("LOYALTY_HOME") == home
                    and not _arbiter(p.parent())
                ):
                    found.append(p)
        return found

    def stop(self) -> None:
        if self.proc is None:
            return
        procs = self.tree()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        _kill_all(procs)  # whatever outlived a graceful stop
        self.proc = None
        _kill_all(self.strays())

    def tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def _arbiter(parent) -> bool:
    """Whether a process is a live ``bentoml serve`` (a worker's rightful parent)."""
    import psutil

    try:
        return parent is not None and "bentoml" in " ".join(parent.cmdline())
    except psutil.Error:
        return False


def _kill_all(procs: list) -> None:
    import psutil

    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(procs, timeout=10)


@contextlib.contextmanager
def running(*servers: Server) -> Iterator[tuple[Server, ...]]:
    """Start the servers (in parallel: each cold start is ~20 s) and always stop them."""
    try:
        errors: list[BaseException] = []

        def start(s: Server) -> None:
            try:
                s.start()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(s,)) for s in servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        yield servers
    finally:
        for s in servers:
            s.stop()
            _print_tracebacks(s.log_path)


def _print_tracebacks(log: Path, limit: int = 3) -> None:
    """A server's tracebacks, printed with the test's output: a rare 500 in CI must be
    diagnosable from the CI log alone (the temporary folder with the server log is gone)."""
    if not log.exists():
        return
    text = log.read_text(errors="replace")
    head = "Traceback (most recent call last):"
    blocks = text.split(head)[1:]
    for block in blocks[:limit]:
        print(f"\n--- traceback in {log.name} ---\n{head}{block[:4000]}")
    if len(blocks) > limit:
        print(f"--- {len(blocks) - limit} more tracebacks in {log} ---")


# -- data home --------------------------------------------------------------------------------
def small_budget_policy(text: str) -> str:
    """The load contract with a small monthly budget and one offer per customer per month."""
    import yaml

    doc = yaml.safe_load(text)
    b = doc["budget"]
    b["period"] = "month"
    b["points_per_period"] = SMALL_BUDGET
    # money binds before points (80% of their worth): the race is run on the money scopes too
    b["money_per_period"] = round(SMALL_BUDGET * b["cost_per_point"] * 0.8, 2)
    b["customer_points_per_period"] = 4_000
    b.pop("total_points", None)
    doc["offers"] = [o for o in doc["offers"] if o["points_cost"] <= 4_000]
    doc["blackouts"] = []
    return yaml.safe_dump(doc, sort_keys=False)


def copy_home(base: Path, target: Path, env: dict[str, str]) -> dict[str, str]:
    """A private copy of the session's data home (its own ledger, state and model cache)."""
    shutil.copytree(base, target)
    return {**env, "LOYALTY_HOME": str(target)}


def apply_policies(env: dict[str, str]) -> None:
    """Apply the home's policies (``policies-in``) to the ledger database ``env`` names: the
    policy store lives in that database, so a fresh PostgreSQL ledger starts without any."""
    from typer.testing import CliRunner

    from loyalty.cli import app
    from tests.service_support import env as environ

    with environ(env):
        for path in sorted((Path(env["LOYALTY_HOME"]) / "policies-in").glob("*.yaml")):
            result = CliRunner().invoke(app, ["policy", "apply", str(path)])
            assert result.exit_code == 0, result.output


# -- load -------------------------------------------------------------------------------------
@dataclass
class Plan:
    """What the orchestrator sends: one entry per idempotency key, in time order."""

    keys: list[str]
    bodies: dict[str, dict]
    seq_retry: set[str]
    burst: set[str]
    commit: set[str]
    cancel: set[str]
    outside: set[str] = field(default_factory=set)  # dated in another period: a 422 expected

    @property
    def inside(self) -> list[str]:
        """The keys dated in the current period (each gets a decision)."""
        return [k for k in self.keys if k not in self.outside]


def customer_pools(home: Path, per_partner: int = 250) -> dict[str, list[str]]:
    """Customers each contract can make offers to (its partner's own customers, who may use
    their data), read from the materialized features: contract id -> customer ids."""
    import sqlite3

    conn = sqlite3.connect(home / "online_features.db")
    try:
        pools = {}
        for contract in (LOAD_CONTRACT, REVIEW_CONTRACT):
            partner = "P" + contract.split("-P", 1)[1]
            rows = conn.execute(
                "SELECT customer_key FROM features WHERE partner_id = ? AND tenure_days >= 30 "
                "ORDER BY customer_key LIMIT ?",
                (partner, per_partner),
            ).fetchall()
            pools[contract] = [str(r[0]) for r in rows]
    finally:
        conn.close()
    assert all(len(p) >= 50 for p in pools.values()), {k: len(v) for k, v in pools.items()}
    return pools


def make_plan(prefix: str, n: int, pools: dict[str, list[str]], outside: float = 0.0) -> Plan:
    """n decisions walking forward through the clock's month (clients compete for the same
    month's budget, caps and contact windows); ``outside`` of them dated in a closed or a
    future period instead (refused with a 422, nothing written); ~10% resent after the answer,
    ~5% sent three times at once, approved ones committed (~40%, the commit sent twice) or
    cancelled (~30%)."""
    keys, bodies = [], {}
    seq_retry, burst, commit, cancel, elsewhere = set(), set(), set(), set(), set()
    span_s = 28 * 86_400
    for i in range(n):
        key = f"{prefix}-{i:06d}"
        h = zlib.crc32(key.encode())
        at = MONTH_START + dt.timedelta(seconds=span_s * i / max(n, 1))
        if (h >> 16) % 1000 < outside * 1000:
            at = CLOSED_AT if (h >> 26) % 2 else FUTURE_AT
            elsewhere.add(key)
        contract = REVIEW_CONTRACT if h % 10 == 0 else LOAD_CONTRACT
        pool = pools[contract]
        bodies[key] = {
            "idempotency_key": key,
            "customer_id": pool[(h >> 8) % len(pool)],
            "contract_id": contract,
            "channel": "app",
            "event": "purchase",
            "time": at.isoformat().replace("+00:00", "Z"),
            "features": CONSENTED,
        }
        keys.append(key)
        r = (h >> 4) % 100
        if r < 10:
            seq_retry.add(key)
        elif r < 15:
            burst.add(key)
        a = (h >> 12) % 10
        if a < 4:
            commit.add(key)
        elif a < 7:
            cancel.add(key)
    return Plan(keys, bodies, seq_retry, burst, commit, cancel, elsewhere)


@dataclass
class Outcome:
    """Everything the clients saw."""

    answers: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # unexpected statuses, with bodies
    retried_errors: Counter = field(default_factory=Counter)  # transient errors then retried
    actions: dict[str, list[tuple[str, int, dict]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str, status: int, body: dict | str, took: float) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.latencies.append(took)
            if status == 200 and isinstance(body, dict):
                self.answers[key].append(body)

    def fail(self, text: str) -> None:
        with self.lock:
            self.failures.append(text)


class Orchestrator:
    """8 (or ``clients``) threads send the plan to one or more servers, like ``loyalty replay``
    would: each key until it gets an answer (transient errors retried with backoff, the same
    key and payload), plus the injected retries, commits and cancels."""

    def __init__(
        self,
        urls: Callable[[], list[str]],
        plan: Plan,
        clients: int = 8,
        transient: tuple[int, ...] = (),
        give_up_s: float = 300.0,
    ) -> None:
        self.urls, self.plan, self.clients = urls, plan, clients
        self.transient = transient  # statuses that mean "retry later" in this scenario
        self.give_up_s = give_up_s
        self.out = Outcome()
        self.done = 0
        self._count_lock = threading.Lock()
        self._local = threading.local()

    def _client(self):
        import httpx

        c = getattr(self._local, "client", None)
        if c is None:
            c = httpx.Client(timeout=60, headers=ORCH)
            self._local.client = c
        return c

    def _url(self, key: str, salt: int = 0) -> str:
        urls = self.urls()
        return urls[(zlib.crc32(key.encode()) + salt) % len(urls)]

    def send(self, key: str, salt: int = 0) -> dict | None:
        """POST /decide until an answer (200, or a final 4xx); returns the 200 body."""
        import httpx

        body = self.plan.bodies[key]
        deadline = time.time() + self.give_up_s
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                r = self._client().post(f"{self._url(key, salt + attempt)}/decide", json=body)
                status, payload = r.status_code, _json(r)
            except httpx.HTTPError as exc:
                status, payload = -1, f"{type(exc).__name__}: {exc}"
            took = time.perf_counter() - started
            if status == 200:
                self.out.add(key, status, payload, took)
                return payload  # type: ignore[return-value]
            if status == 422 and key in self.plan.outside and "current period" in str(payload):
                self.out.add(key, status, payload, took)  # refused as it must be
                return None
            transient = status == -1 or status in self.transient
            if not transient or time.time() > deadline:
                self.out.add(key, status, payload, took)
                self.out.fail(f"{key}: HTTP {status}: {str(payload)[:500]}")
                return None
            with self.out.lock:
                self.out.retried_errors[status] += 1
                if status != -1:
                    self.out.statuses[status] += 1
                    self.out.actions["_transient"].append((key, status, payload))
            attempt += 1
            time.sleep(min(2.0, 0.05 * 2**attempt))

    def act(self, key: str, answer: dict) -> None:
        """Commit or cancel an answered decision (commit sent twice: it must be idempotent)."""
        if not answer.get("reservation_id") or answer.get("review_id"):
            return
        action = (
            "commit" if key in self.plan.commit else "cancel" if key in self.plan.cancel else ""
        )
        if not action:
            return
        repeats = 2 if action == "commit" else 1
        for n in range(repeats):
            r = self._post_action(key, answer["decision_id"], action, n)
            if r is not None:
                self.out.actions[key].append((action, r[0], r[1]))

    def _post_action(self, key: str, decision_id: str, action: str, n: int):
        import httpx

        deadline = time.time() + self.give_up_s
        attempt = 0
        while True:
            try:
                r = self._client().post(
                    f"{self._url(key, n + attempt)}/decisions/{decision_id}/{action}"
                )
                status, payload = r.status_code, _json(r)
            except httpx.HTTPError as exc:
                status, payload = -1, str(exc)
            if status == 200:
                return status, payload
            if (status == -1 or status in self.transient) and time.time() < deadline:
                attempt += 1
                time.sleep(min(2.0, 0.05 * 2**attempt))
                continue
            self.out.fail(f"{key}: {action} HTTP {status}: {str(payload)[:300]}")
            return status, payload

    def one(self, key: str) -> None:
        if key in self.plan.burst:  # the same key three times at once, to different workers
            barrier = threading.Barrier(3)

            def go(salt: int):
                barrier.wait()
                return self.send(key, salt)

            with ThreadPoolExecutor(3) as ex:
                answers = list(ex.map(go, range(3)))
            answer = next((a for a in answers if a), None)
        else:
            answer = self.send(key)
            if answer is not None and key in self.plan.seq_retry:
                self.send(key, 1)
        if answer is not None:
            self.act(key, answer)
        with self._count_lock:
            self.done += 1

    def run(self, keys: list[str] | None = None) -> Outcome:
        with ThreadPoolExecutor(self.clients) as ex:
            list(ex.map(self.one, keys if keys is not None else self.plan.keys))
        return self.out

    def start(self, keys: list[str] | None = None) -> threading.Thread:
        t = threading.Thread(target=self.run, args=(keys,), daemon=True)
        t.start()
        return t

    def wait_for(self, done: int, timeout_s: float = 600) -> None:
        deadline = time.time() + timeout_s
        while self.done < done:
            if time.time() > deadline:
                raise AssertionError(f"only {self.done} of {done} keys done in {timeout_s} s")
            time.sleep(0.2)


def _json(r) -> Any:
    try:
        return r.json()
    except ValueError:
        return r.text


# -- invariants, read from the database directly ----------------------------------------------
def ledger_problems(url: str) -> list[str]:
    """The ledger's own invariants on one snapshot: no scope over its limit or negative,
    balances = journal = live reservations, each reservation's journal matching its status
    (tests/test_ledger_support.py's independent checker), and the product's reconcile()."""
    from test_ledger_support import Raw, invariant_problems

    from guardrails.ledger import open_ledger

    raw = Raw(url)
    try:
        found = invariant_problems(raw)
    finally:
        raw.close()
    with open_ledger(url) as ledger:
        found += [f"reconcile: {p}" for p in ledger.reconcile()]
    return found


def trail_problems(url: str, outcome: Outcome, plan: Plan, keys: list[str]) -> list[str]:
    """The ledger against the audit trail and against what clients were told.

    - every key that got an answer has exactly one decision record, nothing else has one;
    - every answer of a key (first, retries, concurrent copies) equals its recorded response,
      except ``replayed``;
    - every reservation belongs to a recorded decision of the same key; a granted decision's
      reservation exists with the decision's points on its contract line; a budget rejection
      has a rejected reservation; a reservation no decision mentions is an orphaned hold
      (reported separately by ``orphans``);
    - a committed reservation has a commit record, a released one a cancel record.
    """
    from test_ledger_support import Raw

    db = Raw(url)
    found: list[str] = []
    try:
        records = db.all("SELECT decision_id, event, body FROM audit_records ORDER BY seq", ())
        reservations = {
            r[0]: r
            for r in db.all(
                "SELECT id, idempotency_key, decision_id, status, rejected_scope FROM reservations"
            )
        }
        lines = defaultdict(dict)
        for rid, scope, amount in db.all(
            "SELECT reservation_id, scope, amount FROM reservation_lines"
        ):
            lines[rid][scope] = int(amount)
    finally:
        db.close()
    decisions: dict[str, list[dict]] = defaultdict(list)
    events: dict[str, list[str]] = defaultdict(list)
    for decision_id, event, body in records:
        if event == "decision":
            decisions[decision_id].append(json.loads(body))
        else:
            events[decision_id].append(event)
    by_id = {decision_id_for(k): k for k in keys}
    answered = {k for k in keys if outcome.answers.get(k)}
    for k in keys:
        did = decision_id_for(k)
        recs = decisions.get(did, [])
        if k in answered and len(recs) != 1:
            found.append(f"{k}: {len(recs)} decision records for an answered key")
        if k not in answered and recs:
            found.append(f"{k}: recorded but never answered to the client")
        if not recs:
            continue
        recorded = recs[0]["details"]["response"]
        for a in outcome.answers.get(k, []):
            if {**a, "replayed": False} != {**recorded, "replayed": False}:
                diff = sorted(x for x in recorded if a.get(x) != recorded.get(x))
                found.append(f"{k}: an answer differs from the recorded decision in {diff}")
                break
        rid = recorded["reservation_id"]
        if rid is not None:
            r = reservations.get(rid)
            if r is None:
                found.append(f"{k}: granted reservation {rid} does not exist")
                continue
            if r[1] != k or r[2] != did:
                found.append(f"{k}: reservation {rid} belongs to {r[1]!r}/{r[2]!r}")
            contract_line = [
                v
                for s, v in lines[rid].items()
                if s.startswith(f"contract:{recorded['contract_id']}:")
            ]
            if contract_line != [recorded["points"]]:
                found.append(
                    f"{k}: answered {recorded['points']} points ({recorded['offer_id']}) but its "
                    f"reservation holds {lines[rid]}"
                )
            status, ev = r[3], set(events.get(did, []))
            if status == "committed" and not ev & {"commit", "review.approved"}:
                found.append(f"{k}: reservation committed without a commit record ({ev})")
            if status == "released" and not ev & {"cancel", "review.rejected", "review.expired"}:
                found.append(f"{k}: reservation released without a cancel record ({ev})")
        elif recorded["status"] == "rejected" and any(
            x["code"] == "budget" for x in recorded["reasons"]
        ):
            mine = [r for r in reservations.values() if r[1] == k]
            if not mine or mine[0][3] != "rejected":
                found.append(f"{k}: a budget rejection without a rejected reservation ({mine})")
    for did in decisions:
        if did not in by_id:
            found.append(f"decision record {did} of a key nobody sent")
    for rid, (_, key, did, status, _) in reservations.items():
        if key not in plan.bodies:
            found.append(f"reservation {rid} of a key nobody sent ({key})")
        elif did not in decisions and status not in ("held", "expired", "released"):
            found.append(f"reservation {rid} ({key}) is {status} without a decision record")
    return found


def orphans(url: str) -> list[tuple[str, str, str]]:
    """Reservations (not refused) that no recorded decision names: (id, key, status). A held
    one is budget nobody was told about until its TTL passes."""
    from test_ledger_support import Raw

    db = Raw(url)
    try:
        recs = db.all("SELECT body FROM audit_records WHERE event = 'decision'")
        mentioned = set()
        for (body,) in recs:
            mentioned.update(json.loads(body).get("reservation_ids") or [])
        rows = db.all("SELECT id, idempotency_key, status FROM reservations")
    finally:
        db.close()
    return [(rid, key, st) for rid, key, st in rows if rid not in mentioned and st != "rejected"]


def verify_trail(env: dict[str, str]) -> subprocess.CompletedProcess:
    """``loyalty audit verify --json`` on the data home (the real command, exit 0 = intact)."""
    return subprocess.run(
        [sys.executable, "-m", "loyalty.cli", "audit", "verify", "--json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


_RULE_CODES = {"budget", "cap", "contact_limit", "suppression", "consent_marketing", "eligibility"}


def summary(outcome: Outcome, took_s: float) -> str:
    lat = sorted(outcome.latencies) or [0.0]
    first = [a[0] for a in outcome.answers.values() if a]
    statuses = Counter(a.get("status") for a in first)
    lost_race = sum(
        1 for a in first if a.get("status") == "rejected" and a["reasons"][0]["code"] == "budget"
    )
    # the rules that kept offers from the no-offer answers: how much the caps, contact limits
    # and budgets were exercised (an answer counts once per rule it cites)
    bound = Counter(
        code
        for a in first
        if a.get("status") == "no_offer"
        for code in {r["code"] for r in a["reasons"]} & _RULE_CODES
    )
    return (
        f"{len(outcome.answers)} keys answered in {took_s:.1f} s, "
        f"HTTP {dict(outcome.statuses)}, decisions {dict(statuses)} "
        f"({lost_race} refused by the ledger after a lost budget race; no-offer answers citing "
        f"{dict(sorted(bound.items()))}), "
        f"transient errors retried {dict(outcome.retried_errors)}, "
        f"p50 {lat[len(lat) // 2] * 1000:.0f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.0f} ms"
    )


# -- a throwaway PostgreSQL server ------------------------------------------------------------
def pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    raise FileNotFoundError(name)


class ThrowawayPostgres:
    """initdb + pg_ctl on a free port in a temporary folder (never the shared server)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.user: str | None = None
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            self.user = "postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = list(args)
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> ThrowawayPostgres:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.user:
            shutil.chown(self.root.parent, self.user)
            shutil.chown(self.root, self.user)
            self.root.chmod(0o700)
        self._run(pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust")
        return self

    def start(self) -> None:
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=on"
        self._run(
            pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "pg.log"),
            "-o", opts, "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)
