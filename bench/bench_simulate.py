"""Simulator speed and memory: 100k customers <= 30 s, 1M customers <= 5 min, peak <= 6 GB.

Runs ``loyalty simulate`` as a subprocess (the real command, with its worker processes) and
samples the resident memory of the whole process tree. Each run is checked: the manifest must
report the requested customers, and the Parquet files must hold exactly the events it counts.

    uv run python bench/bench_simulate.py [--sizes 100000 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import pyarrow.dataset as ds
from _measure import run_sampled

TARGETS = {100_000: (30.0, 6.0), 1_000_000: (300.0, 6.0)}  # seconds, GiB


def run_once(customers: int, seed: int, out: Path) -> tuple[float, float]:
    cmd = [
        sys.executable,
        "-m",
        "loyalty.cli",
        "simulate",
        "--customers",
        str(customers),
        "--seed",
        str(seed),
        "--out",
        str(out),
        "--force",
        "--no-summary",
    ]
    elapsed, peak = run_sampled(cmd)
    _check(out, customers)
    return elapsed, peak


def _check(out: Path, customers: int) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    rows = ds.dataset(out / "events", format="parquet").count_rows()
    assert manifest["customers"] == customers, manifest["customers"]
    assert rows == manifest["events"] > 10 * customers, (rows, manifest["events"])


def main() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = []
    work = Path(tempfile.mkdtemp(prefix="bench-sim-"))
    try:
        for size in args.sizes:
            times, peaks, events = [], [], 0
            for run in range(args.runs):
                out = work / f"sim-{size}"
                elapsed, peak = run_once(size, seed=run + 1, out=out)
                events = json.loads((out / "manifest.json").read_text())["events"]
                times.append(elapsed)
                peaks.append(peak)
                print(
                    f"{size:>9,} customers run {run + 1}: {elapsed:6.1f} s, peak {peak:.2f} GiB, "
                    f"{events:,} events",
                    flush=True,
                )
                shutil.rmtree(out)
            limit_s, limit_gb = TARGETS.get(size, (float("inf"), float("inf")))
            results.append(
                {
                    "customers": size,
                    "runs": args.runs,
                    "median_s": statistics.median(times),
                    "times_s": [round(t, 1) for t in times],
                    "peak_gib": max(peaks),
                    "events_last_run": events,
                    "target_s": limit_s,
                    "target_gib": limit_gb,
                    "ok": statistics.median(times) <= limit_s and max(peaks) <= limit_gb,
                }
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    record = {
        "name": "simulate",
        "command": "uv run python bench/bench_simulate.py",
        "results": results,
    }
    Path(__file__).with_name("results").mkdir(exist_ok=True)
    Path(__file__).with_name("results").joinpath("simulate.json").write_text(
        json.dumps(record, indent=2)
    )
    return record


if __name__ == "__main__":
    main()
