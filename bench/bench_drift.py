"""Drift report over 1,000,000 rows x 50 features per side: target <= 60 s on 2 cores.

Writes a reference and a current Parquet file of ``--rows`` rows (45 numerical features of
several shapes, 5 categorical ones) in which ``--drifted`` features are shifted on purpose, then
times the whole command a user runs, ``loyalty drift --reference REF --current CUR --out DIR``,
as a subprocess (Python start-up and the Evidently import included), ``--runs`` times; the figure
is the median. Each run's JSON is checked: the planted features, and only they, are found
drifted, and the report states its sample. With ``--unsampled`` one more run compares every row
(``--max-rows`` = rows), to show what the seeded sample saves.

    uv run python bench/bench_drift.py [--rows 1000000] [--runs 3] [--unsampled]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from _measure import run_sampled  # noqa: E402

TARGET_S = 60.0
NUMERICAL, CATEGORICAL = 45, 5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--drifted", type=int, default=5, help="features shifted on purpose")
    parser.add_argument("--unsampled", action="store_true", help="one run without sampling")
    parser.add_argument("--workdir", type=Path, default=None)
    return parser.parse_args()


def make_side(rows: int, seed: int, shift: bool, drifted: int) -> pd.DataFrame:
    """Features of several shapes (normal, log-normal, counts, shares); with ``shift`` the first
    ``drifted`` numerical features move by one standard deviation and the last categorical one
    changes its mix."""
    rng = np.random.default_rng(seed)
    data = {}
    for i in range(NUMERICAL):
        move = 1.0 if shift and i < drifted else 0.0
        shape = i % 4
        if shape == 0:
            data[f"num_{i:02d}"] = rng.normal(move, 1.0, rows)
        elif shape == 1:
            data[f"num_{i:02d}"] = rng.lognormal(0.5 * move, 1.0, rows)
        elif shape == 2:
            data[f"num_{i:02d}"] = rng.poisson(3.0 + 3.0 * move, rows).astype("int64")
        else:
            data[f"num_{i:02d}"] = np.clip(rng.beta(2 + 3 * move, 5, rows), 0, 1)
    levels = np.array(["a", "b", "c", "d", "e", "f"])
    for j in range(CATEGORICAL):
        mix = np.array([0.3, 0.2, 0.2, 0.1, 0.1, 0.1])
        if shift and j == CATEGORICAL - 1:
            mix = mix[::-1]
        data[f"cat_{j}"] = pd.Categorical(rng.choice(levels, rows, p=mix))
    return pd.DataFrame(data)


def planted(drifted: int) -> set[str]:
    return {f"num_{i:02d}" for i in range(drifted)} | {f"cat_{CATEGORICAL - 1}"}


def run_once(ref: Path, cur: Path, out: Path, max_rows: int | None) -> tuple[float, float, dict]:
    cmd = [sys.executable, "-m", "loyalty.cli", "drift", "--reference", str(ref)]
    cmd += ["--current", str(cur), "--out", str(out)]
    if max_rows:
        cmd += ["--max-rows", str(max_rows)]
    seconds, peak = run_sampled(cmd, env={"LOYALTY_HOME": str(out.parent / "home")})
    return seconds, peak, json.loads((out / "drift.json").read_text())


def row(label: str, args, times: list[float], peaks: list[float], summary: dict) -> dict:
    found = {f["feature"] for f in summary["per_feature"] if f["drifted"]}
    median = statistics.median(times)
    return {
        "implementation": label,
        "rows_per_side": args.rows,
        "features": NUMERICAL + CATEGORICAL,
        "rows_compared_per_side": summary["current"]["rows_used"],
        "runs": len(times),
        "median_s": median,
        "runs_s": [round(t, 2) for t in times],
        "peak_gib": max(peaks),
        "planted_drift": len(planted(args.drifted)),
        "found_drift": len(found),
        "found_exactly_planted": found == planted(args.drifted),
        "target_s": TARGET_S,
        "time_ok": median <= TARGET_S,
    }


def main() -> None:
    args = parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-drift-"))
    work.mkdir(parents=True, exist_ok=True)
    ref, cur = work / "reference.parquet", work / "current.parquet"
    make_side(args.rows, 1, False, args.drifted).to_parquet(ref, index=False)
    make_side(args.rows, 2, True, args.drifted).to_parquet(cur, index=False)
    results = []
    times, peaks, summary = [], [], {}
    for i in range(args.runs):
        seconds, peak, summary = run_once(ref, cur, work / f"out-{i}", None)
        times.append(seconds)
        peaks.append(peak)
        print(f"sampled run {i + 1}: {seconds:.1f} s, {peak:.2f} GiB", flush=True)
    label = "loyalty drift (seeded sample, default cap per side)"
    results.append(row(label, args, times, peaks, summary))
    if args.unsampled:
        seconds, peak, summary = run_once(ref, cur, work / "out-all", args.rows)
        print(f"unsampled run: {seconds:.1f} s, {peak:.2f} GiB", flush=True)
        results.append(
            row("loyalty drift --max-rows ROWS (every row)", args, [seconds], [peak], summary)
        )
    body = {
        "name": "drift",
        "command": f"uv run python bench/bench_drift.py --rows {args.rows} --runs {args.runs}"
        + (" --unsampled" if args.unsampled else ""),
        "results": results,
    }
    out = HERE / "results" / "drift.json"
    out.write_text(json.dumps(body, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)  # two ~0.4 GB tables and the reports


if __name__ == "__main__":
    main()
