"""Run every ``bench/bench_*.py`` and rewrite BENCHMARKS.md from their JSON results.

Each benchmark writes ``bench/results/<name>.json`` with its command and figures; this script
only orchestrates and renders, so a single benchmark can also be rerun on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}"


def render(results: list[dict]) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Rendered on {machine()}, {datetime.now(UTC).date().isoformat()}, by `make bench` "
        "(or `uv run python bench/run_all.py --only bench_x.py` for one benchmark). Figures are "
        "medians of the runs listed; each section says the machine it was measured on.",
        "",
        *anchor_table(results),
    ]
    for record in results:
        lines += [f"## {record['name']}", "", f"Command: `{record['command']}`", ""]
        measured = record.get("measured", "machine and date not recorded (an earlier run)")
        lines += [f"Measured on: {measured}", ""]
        if record.get("config"):
            lines += [f"Configuration: `{json.dumps(record['config'], default=str)}`", ""]
        rows = record["results"]
        keys = list(rows[0])
        lines.append("| " + " | ".join(keys) + " |")
        lines.append("|" + "---|" * len(keys))
        for row in rows:
            lines.append("| " + " | ".join(_fmt(row.get(k)) for k in keys) + " |")
        lines.append("")
    return "\n".join(lines)


def anchor_table(results: list[dict]) -> list[str]:
    """Each measured figure beside its anchor: the reference the issue names for it."""
    by_name = {r["name"].split(" (")[0]: r["results"] for r in results}
    rows = []
    for row in by_name.get("service", []):
        if row.get("x_mlflow_per_s") is not None:
            rows.append(
                (
                    f"API {row['endpoint']} req/s (8 clients)",
                    "MLflow scoring server, same run",
                    row["per_s_8_clients"],
                    row["per_s_8_clients"] / row["x_mlflow_per_s"],
                    row["x_mlflow_per_s"],
                )
            )
    for row in by_name.get("features", [])[:1]:
        naive = by_name["features"][-1]
        rows.append(
            (
                "features, 1M customers (s)",
                "naive pandas groupby/apply",
                row["total_s"],
                naive["total_s"],
                naive["total_s"] / row["total_s"],
            )
        )
    for row in by_name.get("batch scoring", []):
        rows.append(
            (
                "batch on Spark local mode (s)",
                "the one-machine path, same data",
                row["spark_s"],
                row["local_s"],
                row["local_s"] / row["spark_s"],
            )
        )
    for row in by_name.get("compiled tree inference", []):
        rows.append(
            (
                f"lleaves predict, {row['kind']} (s)",
                "Booster.predict, same rows",
                row["lleaves_s"],
                row["lightgbm_s"],
                row["speedup"],
            )
        )
    if not rows:
        return []
    out = ["## Against the anchors", "", "| figure | anchor | ours | anchor's | speed-up |"]
    out.append("|---|---|---|---|---|")
    out += [f"| {a} | {b} | {_fmt(c)} | {_fmt(d)} | {e:.2f}x |" for a, b, c, d, e in rows]
    return [*out, ""]


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 10 or value == 0 else f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return json.dumps(value, default=str)
    return "" if value is None else str(value)


# arguments beyond each script's defaults, so `make bench` records every line BENCHMARKS.md shows
EXTRA_ARGS = {"bench_drift.py": ["--unsampled"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="SCRIPT", help="run these (bench_x.py) only")
    parser.add_argument("--args", default="", help="extra arguments for a single --only script")
    parser.add_argument("--render-only", action="store_true", help="rewrite BENCHMARKS.md only")
    args = parser.parse_args()
    scripts = [] if args.render_only else sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.name in args.only]
    for script in scripts:
        print(f"== {script.name}", flush=True)
        extra = EXTRA_ARGS.get(script.name, []) + shlex.split(args.args if args.only else "")
        started = time.time()
        subprocess.run([sys.executable, str(script), *extra], check=True, cwd=ROOT)
        stamp_new_results(started)
    results = [json.loads(p.read_text()) for p in sorted((HERE / "results").glob("*.json"))]
    (ROOT / "BENCHMARKS.md").write_text(render(results))
    print("BENCHMARKS.md rewritten")


def stamp_new_results(since: float) -> None:
    """Record the machine and date in each result a benchmark just wrote: results from
    different runs (and machines) sit side by side in BENCHMARKS.md."""
    for path in (HERE / "results").glob("*.json"):
        if path.stat().st_mtime >= since:
            record = json.loads(path.read_text())
            record["measured"] = f"{machine()}, {datetime.now(UTC).date().isoformat()}"
            path.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
