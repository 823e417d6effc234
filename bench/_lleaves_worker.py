"""Compiled tree inference (lleaves) on a matrix the project wrote: runs in its own environment.

lleaves needs ``llvmlite<0.45`` while shap's numba needs llvmlite 0.50, so the project's locked
environment cannot hold it; ``bench_lleaves.py`` starts this script with ``uv run --isolated``.
It compiles the booster, predicts the matrix, and compares with the raw scores LightGBM gave in
the project's environment (the exactness test) and with LightGBM here.

    python bench/_lleaves_worker.py BOOSTER MATRIX REFERENCE OUT [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path


def timed(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    import lightgbm as lgb
    import lleaves
    import numpy as np

    parser = argparse.ArgumentParser()
    for name in ("booster", "matrix", "reference", "out"):
        parser.add_argument(name, type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    x = np.load(args.matrix)
    reference = np.load(args.reference)
    model = lleaves.Model(model_file=str(args.booster))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        model.compile(cache=str(Path(tmp) / "model.o"), raw_score=True)
    compile_s = time.perf_counter() - start
    lleaves_s, raw = timed(lambda: model.predict(x, n_jobs=2), args.runs)
    booster = lgb.Booster(model_file=str(args.booster))
    lgb_s, _ = timed(lambda: booster.predict(x, raw_score=True, num_threads=2), args.runs)
    one = x[:1].copy()
    one_row_s, _ = timed(lambda: [model.predict(one, n_jobs=1) for _ in range(1000)], args.runs)
    body = {
        "rows": len(x),
        "compile_s": compile_s,
        "lleaves_predict_s": lleaves_s,
        "lightgbm_here_predict_s": lgb_s,
        "lleaves_one_row_us": one_row_s / 1000 * 1e6,
        "max_abs_diff": float(np.max(np.abs(np.asarray(raw) - reference))),
        "versions": {
            "lleaves": lleaves.__version__ if hasattr(lleaves, "__version__") else "1.3.0",
            "lightgbm": lgb.__version__,
        },
    }
    args.out.write_text(json.dumps(body, indent=2) + "\n")


if __name__ == "__main__":
    main()
