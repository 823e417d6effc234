"""Medians per commit of interleaved bench_service.py runs (bench/compare_service.sh writes them).

    python bench/compare_summary.py DIR      (DIR holds N-old.json and N-new.json files)

Prints, per endpoint, the median throughput (8 clients) and paced p99 of each commit and the
change; exits 1 when any run recorded a problem (a wrong or missing answer is not a result).
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
from pathlib import Path

from run_all import machine  # this folder: the script runs from bench/

FIGURES = (
    ("per_s_8_clients", "req/s, 8 clients", 1),
    ("x_mlflow_per_s", "x MLflow req/s (same run)", 1),
    ("paced_100_p99_ms", "p99 ms at 100/s", -1),
    ("cpu_ms_per_req_8_clients", "server CPU ms per request", -1),
)


def load(folder: Path) -> dict[str, list[dict]]:
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for path in sorted(folder.glob("*-*.json")):
        label = path.stem.split("-", 1)[1]
        if label in runs:
            runs[label].append(json.loads(path.read_text()))
    return runs


def medians(runs: list[dict], endpoint: str, key: str) -> tuple[float | None, list[float]]:
    values = [
        float(r[key])
        for run in runs
        for r in run["results"]
        if r["endpoint"] == endpoint and r.get(key) is not None
    ]
    return (statistics.median(values) if values else None), values


def main(folder: Path) -> int:
    runs = load(folder)
    problems = [p for label in runs for run in runs[label] for p in run["problems"] if p != "none"]
    endpoints = [r["endpoint"] for r in runs["new"][0]["results"]] if runs["new"] else []
    print(f"{len(runs['old'])} old and {len(runs['new'])} new runs in {folder}")
    rows = []
    for endpoint in endpoints:
        for key, words, better in FIGURES:
            old, old_values = medians(runs["old"], endpoint, key)
            new, new_values = medians(runs["new"], endpoint, key)
            if old is None or new is None:
                continue
            change = (new - old) / old * 100
            worse = -change * better
            print(
                f"{endpoint:<20} {words:<18} old {old:8.1f} {_list(old_values)}  new {new:8.1f} "
                f"{_list(new_values)}  {change:+.1f}% ({'worse' if worse > 0 else 'better'})"
            )
            rows.append(
                {
                    "endpoint": endpoint,
                    "figure": words,
                    "old_median": round(old, 2),
                    "old_runs": _list(old_values),
                    "new_median": round(new, 2),
                    "new_runs": _list(new_values),
                    "change_pct": round(change, 1),
                    "within_10pct": worse <= 10.0,
                }
            )
    _record(folder, runs, rows)
    if problems:
        print(f"problems recorded: {problems}")
        return 1
    return 0


def _record(folder: Path, runs: dict[str, list[dict]], rows: list[dict]) -> None:
    """bench/results/service_compare.json, which ``bench/run_all.py`` renders in BENCHMARKS.md."""
    if not rows:
        return
    first = runs["new"][0]
    commits = (
        json.loads((folder / "commits.json").read_text())
        if (folder / "commits.json").exists()
        else {}
    )
    record = {
        "name": "service, two commits interleaved",
        "command": f"bash bench/compare_service.sh OLD_REF NEW_REF {len(runs['new'])} (each "
        "run: this checkout's bench/bench_service.py --runs 1 --seconds 10, on each commit's own "
        "environment and demo home; server CPU summed over the server's process tree)",
        "measured": first.get("measured") or f"{machine()}, {dt.date.today().isoformat()}",
        "config": {"runs_per_commit": len(runs["new"]), "commits": commits},
        "results": rows,
    }
    out = Path(__file__).parent / "results" / "service_compare.json"
    out.write_text(json.dumps(record, indent=2) + "\n")


def _list(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}" for v in values) + "]"


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
