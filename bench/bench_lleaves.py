"""Compiled tree inference (lleaves) against ``Booster.predict``, on the demo's three models.

The batch path spends most of its model time in ``Booster.predict``; lleaves compiles the trees to
native code. This bench measures what it would save and whether it is exact: for each kind it
builds the float matrix of ``--rows`` rows exactly as the batch path does (``ModelPackage.matrix``
over the demo's rows, resampled with a seed), times ``Booster.predict`` (raw scores, 2 threads),
then runs ``_lleaves_worker.py`` in an isolated environment (lleaves needs llvmlite<0.45, which
the project's shap/numba cannot share) to compile and predict the same matrix. Every kind must
agree with LightGBM to 1e-9 on every row.

    uv run python bench/bench_lleaves.py [--home DIR] [--rows 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _measure import uv  # noqa: E402
from bench_batch import demo_home  # noqa: E402

LLEAVES = ["lleaves==1.3.0", "llvmlite<0.45"]
TOLERANCE = 1e-9
KINDS = {"churn": "churn", "risk": "churn", "propensity": "propensity"}  # kind -> dataset rows


def rows_for(home: Path, dataset: str, rows: int, seed: int) -> pd.DataFrame:
    frame = pd.read_parquet(home / "demo" / "datasets" / dataset / "data")
    pick = np.random.default_rng(seed).integers(0, len(frame), rows)
    return frame.iloc[pick].reset_index(drop=True)


def lightgbm_seconds(booster, x: np.ndarray, runs: int) -> tuple[float, np.ndarray]:
    times, raw = [], None
    for _ in range(runs):
        start = time.perf_counter()
        raw = booster.predict(x, raw_score=True, num_threads=2)
        times.append(time.perf_counter() - start)
    return statistics.median(times), raw


def one_row_us(booster, x: np.ndarray) -> float:
    one = x[:1].copy()
    start = time.perf_counter()
    for _ in range(1000):
        booster.predict(one, raw_score=True, num_threads=1)
    return (time.perf_counter() - start) / 1000 * 1e6


def compiled(booster_txt: Path, x, raw, work: Path, runs: int) -> dict:
    import lightgbm

    np.save(work / "x.npy", x)
    np.save(work / "raw.npy", raw)
    out = work / "lleaves.json"
    cmd = [uv(), "run", "--isolated", "--no-project", "--quiet",
           *[a for pkg in [*LLEAVES, f"lightgbm=={lightgbm.__version__}", "numpy"]
             for a in ("--with", pkg)],
           "python", str(HERE / "_lleaves_worker.py"), str(booster_txt), str(work / "x.npy"),
           str(work / "raw.npy"), str(out), "--runs", str(runs)]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=ROOT)
    return json.loads(out.read_text())


def measure(kind: str, model, frame: pd.DataFrame, work: Path, runs: int) -> dict:
    x = model.package.matrix(frame)
    booster = model.package.booster
    lgb_s, raw = lightgbm_seconds(booster, x, runs)
    booster_txt = work / f"{kind}.txt"
    booster_txt.write_text(booster.model_to_string())
    result = compiled(booster_txt, x, raw, work, runs)
    exact = result["max_abs_diff"] <= TOLERANCE
    assert exact, f"{kind}: lleaves differs from LightGBM by {result['max_abs_diff']}"
    return {
        "model": f"{model.name}/{model.version}",
        "trees": booster.num_trees(),
        "features": x.shape[1],
        "rows": len(x),
        "lightgbm_s": lgb_s,
        "lleaves_s": result["lleaves_predict_s"],
        "speedup": lgb_s / result["lleaves_predict_s"],
        "lleaves_compile_s": result["compile_s"],
        "lightgbm_one_row_us": one_row_us(booster, x),
        "lleaves_one_row_us": result["lleaves_one_row_us"],
        "max_abs_diff": result["max_abs_diff"],
        "exact": exact,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a demo data home (default: made in --work)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench-lleaves")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    home = args.home or demo_home(args.work)
    os.environ["LOYALTY_HOME"] = str(home)
    from loyalty.commands._train_run import quiet_mlflow
    from serving.batch_run import load_batch_models
    from serving.settings import ServiceSettings

    quiet_mlflow()  # MLflow INFO lines and download bars off, as the command does
    models = load_batch_models(ServiceSettings(), "champion", tuple(KINDS))
    results = []
    for kind, dataset in KINDS.items():
        frame = rows_for(home, dataset, args.rows, seed=7)
        results.append({"kind": kind, **measure(kind, models[kind], frame, args.work, args.runs)})
        print(json.dumps(results[-1]), flush=True)
    body = {
        "name": "compiled tree inference (lleaves, evaluated; not adopted)",
        "command": f"uv run python bench/bench_lleaves.py --rows {args.rows} --runs {args.runs} "
        "(raw scores, 2 threads, median of runs; lleaves in an isolated environment)",
        "results": results,
    }
    (HERE / "results" / "lleaves.json").write_text(json.dumps(body, indent=2) + "\n")


if __name__ == "__main__":
    main()
