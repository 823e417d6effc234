"""The consent check before any feature is read: <= 0.5 ms per decision (median), in-process.

What ``/decide`` does first for every request, on a demo data home (its online store and ledger
database, durable SQLite): read the customer's consent record alone (the store's consent table),
lay the consent events received since over it, and decide whether the contract's partner may use
the customer's data and make an offer at all. Timed per decision over ``--decisions`` decisions
(customers of the contract's partner, round robin), ``--runs`` times; the median of each run and
of all runs is reported. Every answer is checked against an independent reading of the consent
table (plain SQL and the contract's terms restated here): a fast wrong answer is not a result.

    uv run python bench/bench_consent.py [--home DIR] [--runs 5] [--decisions 10000]

DIR is a data home made by ``loyalty demo`` with this checkout (its online store must have the
consent table: materialise again with this checkout if it was made by an older one); without
it a scratch demo home is made first (a few minutes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
TARGET_MS = 0.5
QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "BENTOML_DO_NOT_TRACK": "True"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a demo data home (default: a scratch demo)")
    parser.add_argument("--contract", default="C-P01")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--decisions", type=int, default=10_000)
    return parser.parse_args()


def expected(home: Path, partner: str, marketing_required: bool) -> dict[str, bool]:
    """Customer -> withheld, from the consent table read with plain SQL (the partner's own
    customers: their data may be used unless sharing was withdrawn; an offer needs marketing
    consent when the contract requires it)."""
    with sqlite3.connect(f"file:{home / 'online_features.db'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT customer_key, consent_marketing, consent_data_sharing FROM consent "
            "WHERE partner_id = ? ORDER BY customer_key",
            (partner,),
        ).fetchall()
    return {
        key: sharing == 0 or (marketing_required and marketing != 1)
        for key, marketing, sharing in rows
    }


def one_run(core, cp, customers: list[str], truth: dict[str, bool]) -> tuple[list[float], int]:
    from guardrails.engine import consent_of, data_withheld
    from serving.operations import sources_of

    now = dt.datetime.fromtimestamp(core.clock(), dt.UTC)
    partner = cp.policy.partner_id
    times, wrong = [], 0
    for cid in customers:
        t0 = time.perf_counter()
        record = core.consent_records([cid], [None])[0]
        st = core.state.consents([cid], now).get(cid)
        if st is not None:
            record.update(st.consent)
        withheld = data_withheld(cp, partner, consent_of(cp, record, sources_of(core, None, st)))
        times.append((time.perf_counter() - t0) * 1e3)
        wrong += withheld is not truth[cid]
    return times, wrong


def main() -> None:
    args = parse_args()
    if args.home is not None:
        return measure(args, args.home.resolve())
    with tempfile.TemporaryDirectory(prefix="bench-consent-") as scratch:
        home = Path(scratch) / "home"
        env = {**os.environ, **QUIET, "LOYALTY_HOME": str(home)}
        subprocess.run([sys.executable, "-m", "loyalty.cli", "demo"], env=env, check=True)
        return measure(args, home)


def measure(args: argparse.Namespace, home: Path) -> None:
    args.home = home
    os.environ.update({**QUIET, "LOYALTY_HOME": str(home)})
    from serving.core import DecisionCore

    core = DecisionCore()
    try:
        cp = core.policies[args.contract]
        required = cp.policy.consent.require_marketing_consent
        truth = expected(args.home, cp.policy.partner_id, required)
        keys = list(truth)
        customers = [keys[i % len(keys)] for i in range(args.decisions)]
        one_run(core, cp, customers[:500], truth)  # warm-up
        runs = [one_run(core, cp, customers, truth) for _ in range(args.runs)]
    finally:
        core.close()
    medians = [statistics.median(t) for t, _ in runs]
    wrong = sum(w for _, w in runs)
    every = [x for t, _ in runs for x in t]
    row = {
        "figure": "consent check per decision (ms)",
        "median_ms": round(statistics.median(every), 4),
        "p99_ms": round(sorted(every)[int(len(every) * 0.99)], 4),
        "run_medians_ms": [round(m, 4) for m in medians],
        "decisions_per_run": args.decisions,
        "withheld_share": round(sum(truth[c] for c in customers) / len(customers), 4),
        "wrong_answers": wrong,
        "target": f"<= {TARGET_MS} ms median",
        "ok": wrong == 0 and statistics.median(every) <= TARGET_MS,
    }
    record = {
        "name": "consent",
        "command": f"uv run python bench/bench_consent.py --home DEMO_HOME --runs {args.runs} "
        f"--decisions {args.decisions}",
        "config": {
            "what": "the consent record read (online store's consent table, SQLite), the consent "
            "events since (ledger database, SQLite WAL), the data-use and marketing rules",
            "contract": args.contract,
        },
        "results": [row],
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "consent.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(row, indent=2))
    if not row["ok"]:
        raise SystemExit("consent check wrong or slower than its target")


if __name__ == "__main__":
    main()
