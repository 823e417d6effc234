"""Decision service against MLflow's scoring server, one client, same machine, same churn model.

Starts a real ``loyalty serve`` on the demo's data home (its registered models, reason codes and
shadow scoring on, the durable SQLite ledger) and ``mlflow models serve --env-manager local`` on
the same churn champion, both on free 127.0.0.1 ports with the same number of worker processes
(``--workers``, 2 by default: one per core of the reference machine), then measures with one
asyncio client (aiohttp): single-record latency (one request at a time) and throughput with 8
concurrent clients for MLflow's ``/invocations``, the service's ``/score`` (one customer, three
models, no reason codes) and ``/decide`` (three models, reason codes, guardrails, durable
reservation, audit write, shadow scoring), and for the two service endpoints p99 at a paced 100
requests/s (latency counted from each request's scheduled start).

Targets (issue 8): ``/score`` throughput >= 4x MLflow's, p99 <= 10 ms at 100/s; ``/decide`` p99
<= 25 ms at 100/s, throughput >= 2x MLflow's. Every response must be 2xx, and the decision
records and audit records in the ledger database must equal the decisions sent.

The data home is ``--home`` (reused) or a scratch one built with ``loyalty demo``. Set-up
completes what the demo may not do: champions (the demo's challengers, when there is no
champion yet), a challenger of another version for shadow scoring (a second registry version of
the same artifacts, when there is none) and the contract policies applied. The record says
which of these it did.

    uv run python bench/bench_service.py [--home DIR] [--seconds 10] [--runs 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
ROOT = HERE.parent
KINDS = ("churn", "propensity", "risk")
TOKEN = "bench-orchestrator-token"
TOKENS = f"{TOKEN}=orchestrator;bench-operator-token=operator"
QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "BENTOML_DO_NOT_TRACK": "True"}
SCORE_TARGET_X, DECIDE_TARGET_X = 4.0, 2.0
SCORE_P99_MS, DECIDE_P99_MS, PACED_PER_S = 10.0, 25.0, 100


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="data home to reuse (default: a scratch demo)")
    parser.add_argument("--seconds", type=float, default=10.0, help="per throughput/paced run")
    parser.add_argument("--single", type=int, default=300, help="sequential requests per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--workers", type=int, default=2, help="worker processes, service and MLflow alike"
    )
    parser.add_argument("--contract", default="C-P01")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "service.json")
    return parser.parse_args()


# -- the data home ------------------------------------------------------------------------------
# the embedded stores of the data home: the checks count in its SQLite ledger
UNSET = ("LOYALTY_LEDGER_URL", "LOYALTY_FEATURE_STORE_URL", "LOYALTY_MLFLOW_TRACKING_URI")


def _env(home: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in UNSET}
    return {**base, **QUIET, "LOYALTY_HOME": str(home), **extra}


def _cli(home: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "loyalty.cli", *args],
        env=_env(home),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"loyalty {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr}")
    return done.stdout


def prepare_home(home: Path) -> dict[str, Any]:
    """The demo's data home, completed for serving; returns what set-up found and did."""
    os.environ.update(QUIET)
    did: list[str] = []
    if not (home / "mlflow.db").exists() or not (home / "online_features.db").exists():
        print(f"running `loyalty demo` into {home} (a few minutes)", flush=True)
        _cli(home, "demo")
        did.append("ran loyalty demo")
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = f"sqlite:///{(home / 'mlflow.db').resolve()}"
    os.environ["MLFLOW_TRACKING_URI"] = uri  # the registry resolves models:/ sources through it
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions: dict[str, dict[str, str]] = {}
    for kind in KINDS:
        name = f"loyalty-{kind}"
        aliases = {}
        for alias in ("champion", "challenger"):
            with contextlib.suppress(MlflowException):
                aliases[alias] = client.get_model_version_by_alias(name, alias)
        if "champion" not in aliases:
            if "challenger" not in aliases:
                raise SystemExit(f"{name} has neither a champion nor a challenger in {uri}")
            v = aliases["challenger"]
            client.set_registered_model_alias(name, "champion", v.version)
            aliases["champion"] = v
            did.append(f"{name}: challenger v{v.version} set as champion (no gate)")
        champ = aliases["champion"]
        if aliases.get("challenger") is None or aliases["challenger"].version == champ.version:
            new = client.create_model_version(name, champ.source, run_id=champ.run_id)
            client.set_registered_model_alias(name, "challenger", new.version)
            aliases["challenger"] = new
            did.append(f"{name}: v{new.version} (a copy of v{champ.version}) as shadow challenger")
        versions[kind] = {a: str(v.version) for a, v in aliases.items()}
    if not _active_policies(home):
        for path in sorted((home / "demo" / "ecosystem" / "policies").glob("*.yaml")):
            _cli(home, "policy", "apply", str(path))
            did.append(f"applied policy {path.name}")
    return {"versions": versions, "setup": did or ["none: the home was ready"]}


def _active_policies(home: Path) -> list[str]:
    try:
        from guardrails.ledger.home import open_policy_store
    except ImportError:  # a commit before the policy store moved into the ledger database
        # (bench/compare_service.sh runs this script on older commits too)
        from guardrails.policy.store import PolicyStore  # type: ignore[attr-defined]

        return sorted(PolicyStore(home / "policies.db").active_all())  # type: ignore[call-arg]
    url = f"sqlite:///{(home / 'ledger.db').resolve()}"
    return sorted(open_policy_store(url, home).active_all())


def customers(home: Path, contract: str, n: int = 2000) -> list[dict[str, Any]]:
    """Customer ids from the online store and their churn-model rows (labels as strings): the
    contract's partner's own customers whose consent lets it use their data and make them an
    offer, so that every /decide runs the whole path (features, three models, reason codes,
    arbitration, the books) rather than stopping at the consent check."""
    partner = "P" + contract.split("-P", 1)[1] if "-P" in contract else None
    where = "WHERE consent_marketing = 1 AND consent_data_sharing != 0"
    where += " AND partner_id = ?" if partner else ""
    args = (partner, n) if partner else (n,)
    with sqlite3.connect(f"file:{home / 'online_features.db'}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        sql = f"SELECT * FROM features {where} ORDER BY customer_key LIMIT ?"
        rows = db.execute(sql, args).fetchall()
    return [dict(r) for r in rows]


# -- servers -------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A subprocess in its own session, stopped with SIGTERM to the whole group."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], ready: str, log: Path):
        self.name, self.cmd, self.env, self.ready_url, self.log = name, cmd, env, ready, log

    def __enter__(self) -> Server:
        import httpx

        self._out = self.log.open("w")
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, cwd=ROOT, stdout=self._out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.time() + 240
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited during start-up: see {self.log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.ready_url, timeout=2).status_code == 200:
                    return self
            time.sleep(0.5)
        self.__exit__()
        raise SystemExit(f"{self.name} was not ready in 240 s: see {self.log}")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server's live processes (it and every
        descendant: BentoML's workers run in sessions of their own): what a request costs the
        machine, which other load on a shared host moves far less than it moves throughput."""
        stats: dict[int, tuple[int, int]] = {}  # pid -> (parent pid, CPU ticks)
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                stats[int(stat.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
        children: dict[int, list[int]] = {}
        for pid, (parent, _) in stats.items():
            children.setdefault(parent, []).append(pid)
        total, todo = 0, [self.proc.pid]
        while todo:
            pid = todo.pop()
            total += stats.get(pid, (0, 0))[1]
            todo.extend(children.get(pid, []))
        return total / os.sysconf("SC_CLK_TCK")

    def __exit__(self, *exc: object) -> None:
        from loyalty.processes import stop_tree

        stop_tree(self.proc)
        self._out.close()


def loyalty_server(home: Path, port: int, workers: int, log: Path) -> Server:
    cmd = [sys.executable, "-m", "loyalty.cli", "serve", "--port", str(port), "--workers",
           str(workers)]  # fmt: skip
    env = _env(home, LOYALTY_TOKENS=TOKENS, LOYALTY_SHADOW="true")
    return Server("loyalty serve", cmd, env, f"http://127.0.0.1:{port}/readyz", log)


def mlflow_server(home: Path, port: int, workers: int, log: Path) -> Server:
    uri = f"sqlite:///{(home / 'mlflow.db').resolve()}"
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    cmd = [mlflow, "models", "serve", "-m", "models:/loyalty-churn@champion", "--env-manager",
           "local", "--host", "127.0.0.1", "-p", str(port), "--workers", str(workers)]  # fmt: skip
    env = _env(home, MLFLOW_TRACKING_URI=uri, MLFLOW_REGISTRY_URI=uri)
    return Server("mlflow models serve", cmd, env, f"http://127.0.0.1:{port}/ping", log)


# -- the load client -----------------------------------------------------------------------------
class Target:
    """One endpoint and how to make its n-th request body."""

    def __init__(self, label: str, url: str, body, headers: dict[str, str], paced=True) -> None:
        self.label, self.url, self.body, self.headers = label, url, body, headers
        self.paced = paced
        self.sent = 0
        self.bad: list[str] = []
        self.cpu: Callable[[], float] | None = None  # the server's CPU seconds, once it runs

    async def call(self, session, i: int) -> float:
        import aiohttp

        payload = json.dumps(self.body(i)).encode()
        t0 = time.perf_counter()
        self.sent += 1
        try:
            async with session.post(self.url, data=payload, headers=self.headers) as r:
                text = await r.read()
                if not 200 <= r.status < 300:
                    self.bad.append(f"{r.status}: {text[:200]!r}")
        except (aiohttp.ClientError, TimeoutError) as exc:  # counted, and fails the run
            self.bad.append(f"{type(exc).__name__}: {exc}")
        return time.perf_counter() - t0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1e3


async def single(session, target: Target, n: int, start: int) -> dict[str, float]:
    lat = [await target.call(session, start + i) for i in range(n)]
    return {"p50_ms": _pct(lat, 0.5), "p99_ms": _pct(lat, 0.99)}


async def closed_loop(session, target: Target, clients: int, seconds: float, start: int):
    lat: list[float] = []
    counter = iter(range(start, start + 10**9))
    t_end = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < t_end:
            lat.append(await target.call(session, next(counter)))

    cpu0 = target.cpu() if target.cpu else None
    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - t0
    cpu = (target.cpu() - cpu0) * 1e3 / len(lat) if target.cpu and cpu0 is not None else None
    return {"per_s": len(lat) / wall, "p50_ms": _pct(lat, 0.5), "p99_ms": _pct(lat, 0.99),
            "cpu_ms_per_req": cpu}  # fmt: skip


async def paced(session, target: Target, per_s: float, seconds: float, start: int):
    """Requests on a fixed schedule; latency counts from the scheduled start (no hidden
    backlog)."""
    n = int(per_s * seconds)
    lat: list[float] = []
    t0 = time.perf_counter() + 0.05

    async def one(i: int) -> None:
        due = t0 + i / per_s
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        late = time.perf_counter() - due
        lat.append(late + await target.call(session, start + i))

    await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - t0
    return {"per_s": n / wall, "p99_ms": _pct(lat, 0.99), "p50_ms": _pct(lat, 0.5)}


async def measure(targets: list[Target], args: argparse.Namespace) -> dict[str, list[dict]]:
    """Every target through the same three measurements, run by run in turn (a noisy moment
    hits them alike); each run starts with a short warm-up."""
    import aiohttp

    runs: dict[str, list[dict]] = {t.label: [] for t in targets}
    # idle connections are dropped before the server's keep-alive timeout (uvicorn: 5 s), so a
    # request never goes out on a connection the server is closing
    connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=2.0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        index = 0
        for run in range(args.runs):
            for target in targets:
                for i in range(30):
                    await target.call(session, index + i)
                index += 30
                one = await single(session, target, args.single, index)
                index += args.single
                loop = await closed_loop(session, target, args.concurrency, args.seconds, index)
                index += int(loop["per_s"] * args.seconds) + 1000
                pace = {"per_s": None, "p50_ms": None, "p99_ms": None}
                if target.paced:
                    pace = await paced(session, target, PACED_PER_S, args.seconds, index)
                    index += int(PACED_PER_S * args.seconds)
                runs[target.label].append({"single": one, "loop": loop, "paced": pace})
                print(
                    f"run {run + 1} {target.label}: single p50 {one['p50_ms']:.2f} ms "
                    f"p99 {one['p99_ms']:.2f} ms | {args.concurrency} clients "
                    f"{loop['per_s']:.0f}/s p99 {loop['p99_ms']:.2f} ms | paced "
                    f"{PACED_PER_S}/s p99 {pace['p99_ms'] or float('nan'):.2f} ms",
                    flush=True,
                )
    return runs


# -- the checks ------------------------------------------------------------------------------------
def ledger_counts(home: Path, tag: str, after_seq: int) -> tuple[int, int]:
    """(decision rows under the run's keys, decision audit records after ``after_seq``),
    counted in the ledger database itself."""
    with sqlite3.connect(f"file:{home / 'ledger.db'}?mode=ro", uri=True) as db:
        decisions = db.execute(
            "SELECT COUNT(*) FROM decisions WHERE idempotency_key LIKE ?", (f"bench-{tag}-%",)
        ).fetchone()[0]
        audit = db.execute(
            "SELECT COUNT(*) FROM audit_records WHERE event = 'decision' AND seq > ?",
            (after_seq,),
        ).fetchone()[0]
    return int(decisions), int(audit)


def audit_head(home: Path) -> int:
    path = home / "ledger.db"
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        row = db.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_records").fetchone()
    return int(row[0])


def _median_known(values) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def summarize(label: str, runs: list[dict], base_per_s: float | None, x: float | None,
              p99_target: float | None, what: str) -> dict[str, Any]:  # fmt: skip
    med = statistics.median
    per_s = med(r["loop"]["per_s"] for r in runs)
    paced_runs = [r["paced"]["p99_ms"] for r in runs if r["paced"]["p99_ms"] is not None]
    paced_p99 = med(paced_runs) if paced_runs else None
    ratio = per_s / base_per_s if base_per_s else None
    checks = []
    if x is not None:
        checks.append(ratio is not None and ratio >= x)
    if p99_target is not None:
        checks.append(paced_p99 is not None and paced_p99 <= p99_target)
    target = []
    if x is not None:
        target.append(f">= {x:g}x MLflow req/s")
    if p99_target is not None:
        target.append(f"p99 <= {p99_target:g} ms at {PACED_PER_S}/s")
    return {
        "endpoint": label,
        "what": what,
        "runs": len(runs),
        "single_p50_ms": med(r["single"]["p50_ms"] for r in runs),
        "single_p99_ms": med(r["single"]["p99_ms"] for r in runs),
        "per_s_8_clients": per_s,
        "p99_ms_8_clients": med(r["loop"]["p99_ms"] for r in runs),
        f"paced_{PACED_PER_S}_p99_ms": paced_p99,
        "runs_per_s": [round(r["loop"]["per_s"]) for r in runs],
        "cpu_ms_per_req_8_clients": _median_known(r["loop"].get("cpu_ms_per_req") for r in runs),
        "x_mlflow_per_s": ratio,
        "target": ", ".join(target) or "anchor",
        "meets_target": all(checks) if checks else None,
    }


# -- main ----------------------------------------------------------------------------------------
def main() -> dict:
    args = parse_args()
    if args.home is not None:
        return run(args, args.home.resolve())
    with tempfile.TemporaryDirectory(prefix="bench-svc-") as scratch:
        return run(args, Path(scratch) / "home")


def run(args: argparse.Namespace, home: Path) -> dict:
    setup = prepare_home(home)
    rows = customers(home, args.contract)
    from models.registry import load_by_alias

    uri = f"sqlite:///{(home / 'mlflow.db').resolve()}"
    names = load_by_alias(uri, "loyalty-churn", "champion", home / "model-cache").package
    names = names.feature_names
    tag = uuid.uuid4().hex[:8]
    auth = {"Authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
    plain = {"content-type": "application/json"}

    def ml_body(i: int) -> dict:
        r = rows[i % len(rows)]
        return {"dataframe_split": {"columns": names, "data": [[r[n] for n in names]]}}

    def score_body(i: int) -> dict:
        cid = rows[i % len(rows)]["customer_key"]
        return {"customers": [{"customer_id": cid}], "contract_id": args.contract}

    def decide_body(i: int) -> dict:
        cid = rows[i % len(rows)]["customer_key"]
        return {"idempotency_key": f"bench-{tag}-{i:08d}", "customer_id": cid,
                "contract_id": args.contract, "channel": "app"}  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="bench-svc-logs-") as logs:
        svc_port, ml_port = free_port(), free_port()
        base = f"http://127.0.0.1:{svc_port}"
        targets = [
            Target(  # the anchor: only its single-record and throughput figures are used
                "mlflow /invocations",
                f"http://127.0.0.1:{ml_port}/invocations",
                ml_body,
                plain,
                paced=False,
            ),
            Target("loyalty /score", f"{base}/score", score_body, auth),
            Target("loyalty /decide", f"{base}/decide", decide_body, auth),
        ]
        seq_before = audit_head(home)
        with (
            loyalty_server(home, svc_port, args.workers, Path(logs) / "svc.log") as service,
            mlflow_server(home, ml_port, args.workers, Path(logs) / "mlflow.log") as mlflow,
        ):
            targets[0].cpu = mlflow.cpu_seconds
            targets[1].cpu = targets[2].cpu = service.cpu_seconds
            load_before = os.getloadavg()
            runs = asyncio.run(measure(targets, args))
            load_after = os.getloadavg()
    counts = ledger_counts(home, tag, seq_before)
    return finish(args, setup, runs, targets, counts, (load_before, load_after))


def finish(args, setup, runs, targets, counts, loads) -> dict:
    mlflow_t, score_t, decide_t = targets
    base = statistics.median(r["loop"]["per_s"] for r in runs[mlflow_t.label])
    results = [
        summarize(mlflow_t.label, runs[mlflow_t.label], None, None, None,
                  f"churn champion, one record, MLflow's server, {args.workers} worker(s)"),
        summarize(score_t.label, runs[score_t.label], base, SCORE_TARGET_X, SCORE_P99_MS,
                  "one customer, churn + risk + propensity for each offer, no reason codes"),
        summarize(decide_t.label, runs[decide_t.label], base, DECIDE_TARGET_X, DECIDE_P99_MS,
                  "three models, reason codes (churn, risk), guardrails, durable reservation, "
                  "audit record, shadow scoring of three challengers"),
    ]  # fmt: skip
    decisions, audited = counts
    bad = [f"{t.label}: {len(t.bad)} non-2xx, first {t.bad[0]}" for t in targets if t.bad]
    if decisions != decide_t.sent or audited != decide_t.sent:
        bad.append(
            f"/decide: {decide_t.sent} sent, {decisions} decision rows and {audited} decision "
            "audit records in the ledger database"
        )
    command = (
        f"uv run python bench/bench_service.py --seconds {args.seconds:g} --single "
        f"{args.single} --runs {args.runs} --concurrency {args.concurrency} --workers "
        f"{args.workers}"
    )
    record = {
        "name": "service",
        "command": command,
        "config": {
            "client": f"one asyncio client (aiohttp), {args.concurrency} concurrent for "
            f"throughput, {PACED_PER_S}/s paced, {args.seconds:g} s each, keep-alive",
            "service": f"loyalty serve, {args.workers} worker(s), shadow scoring on, reason "
            "codes for churn and risk on /decide, ledger sqlite (WAL, synchronous=FULL)",
            "mlflow": "mlflow models serve -m models:/loyalty-churn@champion --env-manager "
            f"local --workers {args.workers} (as many as the service's)",
            "data_home": "reused (--home)" if args.home else "scratch, built by loyalty demo",
            "contract": args.contract,
            "models": setup["versions"],
            "setup": setup["setup"],
            "requests": {t.label: t.sent for t in targets},
            "decisions_recorded": decisions,
            "decision_audit_records": audited,
            "load_average_before_after": [round(loads[0][0], 2), round(loads[1][0], 2)],
            "cpus": os.cpu_count(),
        },
        "results": results,
        "problems": bad or ["none"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    if bad:
        raise SystemExit("service benchmark checks failed: " + "; ".join(bad))
    return record


if __name__ == "__main__":
    main()
