"""Run every ``bench/bench_*.py`` and rewrite BENCHMARKS.md from their JSON results.

Each benchmark writes ``bench/results/<name>.json`` with its command and figures; this script
only orchestrates and renders, so a single benchmark can also be rerun on its own.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
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
        f"Machine: {machine()}. Written by `make bench` on "
        f"{datetime.now(UTC).date().isoformat()}; figures are medians of the runs listed.",
        "",
    ]
    for record in results:
        lines += [f"## {record['name']}", "", f"Command: `{record['command']}`", ""]
        rows = record["results"]
        keys = list(rows[0])
        lines.append("| " + " | ".join(keys) + " |")
        lines.append("|" + "---|" * len(keys))
        for row in rows:
            lines.append("| " + " | ".join(_fmt(row[k]) for k in keys) + " |")
        lines.append("")
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


# arguments beyond each script's defaults, so `make bench` records every line BENCHMARKS.md shows
EXTRA_ARGS = {"bench_drift.py": ["--unsampled"]}


def main() -> None:
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        extra = EXTRA_ARGS.get(script.name, [])
        subprocess.run([sys.executable, str(script), *extra], check=True, cwd=ROOT)
    results = [json.loads(p.read_text()) for p in sorted((HERE / "results").glob("*.json"))]
    (ROOT / "BENCHMARKS.md").write_text(render(results))
    print("BENCHMARKS.md rewritten")


if __name__ == "__main__":
    main()
