"""``train_kind``: the whole training of one kind, with MLflow logging and registration."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from models.package import ModelPackage
from models.pyfunc import example_input
from training import tracking
from training.config import TrainConfig
from training.data import dataset_fingerprint
from training.evaluation import holdout_metrics, reference_sample, write_json, write_plots
from training.pipeline import Prepared, Report, TrainOutcome, fit, prepare, season_gap


@dataclass(frozen=True)
class RegistryTarget:
    """Where a trained kind is logged and registered: built from the settings at the edge."""

    tracking_uri: str
    artifacts_dir: Path
    name_prefix: str = "loyalty-"

    def model_name(self, kind: str) -> str:
        return f"{self.name_prefix}{kind}"


def train_kind(
    dataset: Path, kind: str, config: TrainConfig, target: RegistryTarget, report: Report
) -> TrainOutcome:
    clock = {"start": time.perf_counter()}
    report(f"{kind}: reading and checking {dataset / kind}")
    prepared = prepare(dataset, kind, config)
    client = tracking.connect(target.tracking_uri)
    clock["prepared"] = time.perf_counter()
    package, params, trials = fit(prepared, kind, config, report)
    clock["fitted"] = time.perf_counter()
    report(f"{kind}: evaluating on the holdout")
    metrics, scores = _evaluate(prepared, package, config)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _write_artifacts(folder, prepared, package, scores, metrics, trials, config)
        report(f"{kind}: logging to MLflow and registering as challenger")
        outcome = _log_and_register(client, folder, prepared, package, params, metrics, target)
    clock["done"] = time.perf_counter()
    outcome.warnings = [w for w in (season_gap(prepared),) if w]
    outcome.seconds = {
        "prepare": clock["prepared"] - clock["start"],
        "fit": clock["fitted"] - clock["prepared"],
        "evaluate_and_log": clock["done"] - clock["fitted"],
    }
    return outcome


def _evaluate(prepared: Prepared, package: ModelPackage, config: TrainConfig):
    data, split, x = prepared.data, prepared.split, prepared.x
    spec = config.spec(data.kind)
    holdout = split.mask("holdout")
    score = package.calibrator(package.raw_scores(x[holdout]))
    oracle = None if data.oracle is None else data.oracle.to_numpy()[holdout]
    metrics = holdout_metrics(data.label[holdout], score, oracle, spec)
    stop = split.mask("early_stop")  # the later validation snapshot, for a second opinion
    val = holdout_metrics(
        data.label[stop], package.calibrator(package.raw_scores(x[stop])), None, spec
    )
    metrics.update({f"val_{k}": v for k, v in val.items()})
    metrics["best_iteration"] = float(package.booster.current_iteration())
    metrics["embargoed_rows"] = float(split.embargoed)
    return metrics, {"model": score, "oracle": oracle}


def _write_artifacts(folder, prepared, package, scores, metrics, trials, config) -> None:
    data, x = prepared.data, prepared.x
    holdout = prepared.split.mask("holdout")
    label = data.label[holdout]
    package.save(folder / "package")
    write_json(folder / "metrics.json", metrics)
    write_json(folder / "feature_contract.json", data.contract.to_dict())
    if trials:
        write_json(folder / "tuning_trials.json", {"trials": trials})
    train_scores = package.calibrator(package.raw_scores(x[prepared.train_rows]))
    train_frame = data.frame.iloc[prepared.train_rows]
    spec = config.spec(data.kind)
    sample = reference_sample(
        train_frame, train_scores, package, spec.label, config.reference_rows, config.seed
    )
    (folder / "reference").mkdir()
    sample.to_parquet(folder / "reference" / "reference.parquet", index=False)
    if config.plots:
        curves = {"model": scores["model"]}
        if scores["oracle"] is not None and not np.isnan(scores["oracle"]).any():
            curves["oracle"] = scores["oracle"]
        _plots(folder / "plots", data.kind, label, curves, package, data, holdout, config)


def _plots(folder, kind, label, curves, package, data, holdout, config) -> None:
    rows = np.flatnonzero(holdout)
    take = np.random.default_rng(config.seed).permutation(rows)[: config.shap_rows]
    frame = data.frame.iloc[np.sort(take)]
    x = pd.DataFrame(package.matrix(frame), columns=package.feature_names)
    write_plots(folder, kind, label, curves, (package.contributions(frame), x))


def _log_and_register(client, folder, prepared, package, params, metrics, target):
    kind = prepared.data.kind
    name = target.model_name(kind)
    experiment_id = tracking.experiment(client, f"loyalty-{kind}", target.artifacts_dir)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-{kind}") as run:
        mlflow.log_params(_flat_params(package.metadata, params))
        mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
        mlflow.set_tags({"kind": kind, "feature_contract_hash": prepared.data.contract.hash})
        if gap := season_gap(prepared):
            mlflow.set_tag("warning_season", gap)
        for sub in ("plots", "reference"):
            if (folder / sub).exists():
                mlflow.log_artifacts(str(folder / sub), artifact_path=sub)
        for file in ("metrics.json", "feature_contract.json", "tuning_trials.json"):
            if (folder / file).exists():
                mlflow.log_artifact(str(folder / file))
        example = example_input(package, prepared.data.frame)
        _, version = tracking.log_packaged_model(package, folder / "package", example, name)
        tags = {
            "kind": kind,
            "dataset_fingerprint": dataset_fingerprint(prepared.data.folder.parent, kind),
            "roc_auc": f"{metrics['roc_auc']:.4f}",
            "feature_contract_hash": prepared.data.contract.hash,
            "run_id": run.info.run_id,
        }
        tracking.tag_challenger(client, name, version, tags)
    return TrainOutcome(
        kind=kind,
        registered_name=name,
        version=version,
        run_id=run.info.run_id,
        metrics=metrics,
        split_counts=prepared.split.counts(),
        best_iteration=int(metrics["best_iteration"]),
    )


def _flat_params(metadata: dict, params: dict) -> dict[str, str]:
    flat = {f"lgb.{k}": v for k, v in params.items() if k != "monotone_constraints"}
    flat.update({k: v for k, v in metadata.items() if k != "lgb_params"})
    return {k: str(v)[:500] for k, v in flat.items()}
