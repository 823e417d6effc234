"""Batch scoring: churn and risk for 1M customers plus propensity for ~1M (customer, offer) pairs
<= 45 s on one machine with peak memory <= 6 GB; Spark local mode within 1.5x of that.

The models are the demo's (``loyalty demo`` in a scratch data home, trained on its 20k-customer
ecosystem). The 1M-row feature table resamples that ecosystem's latest churn rows (seeded, with
fresh customer ids), and the offers are one per partner so each customer has one candidate:
about 1M pairs. Each run is checked: every customer scored once, scores in [0, 1], versions on
every row; the Spark output must equal the local output row for row.

    uv run python bench/bench_batch.py [--customers 1000000] [--runs 3] [--spark-runs 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _measure import run_sampled

ROOT = Path(__file__).resolve().parent.parent
TARGET_S, TARGET_GIB, SPARK_RATIO = 45.0, 6.0, 1.5


def demo_home(work: Path) -> Path:
    home = work / "home"
    if not (home / "mlflow.db").exists():
        run_sampled(
            [sys.executable, "-m", "loyalty.cli", "demo"], {"LOYALTY_HOME": str(home)}, ROOT
        )
    return home


def inputs(home: Path, work: Path, customers: int, seed: int) -> tuple[Path, Path]:
    features, offers_dir = work / f"features-{customers}.parquet", work / "offers"
    churn = pd.read_parquet(home / "demo" / "datasets" / "churn" / "data")
    latest = churn[churn["snapshot"] == churn["snapshot"].max()].drop(columns=["churn"])
    rows = np.random.default_rng(seed).integers(0, len(latest), customers)
    table = latest.iloc[rows].reset_index(drop=True)
    table["customer_id"] = np.arange(1, customers + 1, dtype=np.int64)
    table.to_parquet(features, index=False, row_group_size=250_000)
    eco = home / "demo" / "ecosystem" / "reference"
    offers = pd.read_parquet(eco / "offers.parquet")
    contracts = pd.read_parquet(eco / "contracts.parquet")
    offers_dir.mkdir(exist_ok=True)
    one_per_contract = offers.groupby("contract_id").head(1)  # one partner per contract here
    one_per_contract.to_parquet(offers_dir / "offers.parquet", index=False)
    contracts.to_parquet(offers_dir / "contracts.parquet", index=False)
    return features, offers_dir


def score(home: Path, features: Path, offers: Path, out: Path, engine: str) -> tuple[float, float]:
    cmd = [sys.executable, "-m", "loyalty.cli", "score-batch", "--features", str(features),
           "--offers", str(offers), "--out", str(out), "--alias", "champion", "--force",
           "--engine", engine]  # fmt: skip
    return run_sampled(cmd, {"LOYALTY_HOME": str(home)}, ROOT)


def check(out: Path, customers: int) -> tuple[int, int]:
    scores = pd.read_parquet(out / "customers")
    assert len(scores) == customers and scores["customer_id"].is_unique
    for kind in ("churn", "risk"):
        assert scores[kind].between(0, 1).all() and scores[f"{kind}_model"].notna().all()
    pairs = pd.read_parquet(out / "offers")
    assert pairs["propensity"].between(0, 1).all() and pairs["propensity_model"].notna().all()
    return len(scores), len(pairs)


def same(a: Path, b: Path) -> bool:
    for part, keys in (("customers", ["customer_id"]), ("offers", ["customer_id", "offer_id"])):
        left = pd.read_parquet(a / part).sort_values(keys).reset_index(drop=True)
        right = pd.read_parquet(b / part).sort_values(keys).reset_index(drop=True)
        if not left.equals(right):
            return False
    return True


def model_rates(home: Path, features: Path, offers: Path) -> dict[str, float]:
    """Rows per second of each model alone, and of reason codes, in this process."""
    import os

    from loyalty.commands._train_run import quiet_mlflow
    from serving.batch import offer_scores
    from serving.batch_run import load_batch_models, load_offers
    from serving.settings import ServiceSettings

    quiet_mlflow()  # MLflow INFO lines and download bars off, as the command does
    os.environ["LOYALTY_HOME"] = str(home)
    models = load_batch_models(ServiceSettings(), "champion", ("churn", "risk", "propensity"))
    frame = pd.read_parquet(features).head(200_000)
    rates = {}
    for kind in ("churn", "risk"):
        start = time.perf_counter()
        models[kind].package.predict(frame)
        rates[f"{kind}_rows_per_s"] = len(frame) / (time.perf_counter() - start)
    start = time.perf_counter()  # (customer, offer) pairs built and scored, as the command does
    pairs = offer_scores(frame, load_offers(offers), models["propensity"])
    rates["propensity_pairs_per_s"] = len(pairs) / (time.perf_counter() - start)
    sample = frame.head(10_000)
    start = time.perf_counter()
    models["churn"].package.contributions(sample)
    rates["churn_reason_codes_rows_per_s"] = len(sample) / (time.perf_counter() - start)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--spark-runs", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "loyalty-bench")
    args = parser.parse_args()
    work = args.work / "batch"
    work.mkdir(parents=True, exist_ok=True)
    home = demo_home(work)
    features, offers = inputs(home, work, args.customers, seed=3)
    local = [score(home, features, offers, work / "local", "local") for _ in range(args.runs)]
    customers, pairs = check(work / "local", args.customers)
    spark = [score(home, features, offers, work / "spark", "spark") for _ in range(args.spark_runs)]
    check(work / "spark", args.customers)
    identical = same(work / "local", work / "spark")
    assert identical, "Spark and local results differ"
    local_s, spark_s = (
        statistics.median(r[0] for r in local),
        statistics.median(r[0] for r in spark),
    )
    peak = max(r[1] for r in local)
    row = {
        "customers": customers, "pairs": pairs, "local_s": local_s,
        "local_runs_s": [round(r[0], 1) for r in local], "local_peak_gib": peak,
        "spark_s": spark_s, "spark_runs_s": [round(r[0], 1) for r in spark],
        "spark_over_local": spark_s / local_s, "identical": identical,
        **model_rates(home, features, offers),
        "target_s": TARGET_S, "target_gib": TARGET_GIB,
        "ok": local_s <= TARGET_S and peak <= TARGET_GIB and spark_s / local_s <= SPARK_RATIO,
    }  # fmt: skip
    record = {
        "name": "batch scoring",
        "command": f"uv run python bench/bench_batch.py --customers {args.customers} "
        f"--runs {args.runs} --spark-runs {args.spark_runs} (wall time of the whole command, "
        "model loading and Spark start-up included)",
        "results": [row],
    }
    (ROOT / "bench" / "results" / "batch.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
