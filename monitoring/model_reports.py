"""A registered model's drift and quality reports: files in a folder, and a run in MLflow tagged
with the model version they are about (experiment ``loyalty-<kind>``, the one training uses).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import InputError
from monitoring import registry
from monitoring.config import MonitoringConfig
from monitoring.drift import stamp_html, write_report
from monitoring.drift_run import model_drift, reference_from_frame
from monitoring.gate_inputs import Model, label_of, load_model
from monitoring.quality import by_window, classification_report
from monitoring.tables import kind_data, read_sample


def resolve_model(settings, client, kind: str, alias: str | None) -> Model:
    """The version behind ``alias``; without one, the champion, else the challenger."""
    for candidate in [alias] if alias else [registry.CHAMPION, registry.CHALLENGER]:
        found = load_model(settings, client, kind, candidate)
        if found is not None:
            return found
    wanted = f"alias {alias!r}" if alias else "a champion or a challenger"
    raise InputError(f"model {settings.model_name(kind)!r} has no version with {wanted}")


def drift_report(
    settings,
    client,
    model: Model,
    current: Path,
    reference: Path | None,
    config: MonitoringConfig,
    out: Path,
    where=None,
) -> dict:
    """Features plus prediction drift of ``model`` on ``current``; written to ``out`` and
    logged against the model version. The reference defaults to the logged sample."""
    cfg = config.drift
    if reference is None:
        logged = registry.reference_sample(client, model.run_id)
        label = f"{model.name} v{model.version} reference sample (training rows)"
        ref = reference_from_frame(logged, label, cfg)
    else:
        ref = read_sample(reference, None, cfg.max_rows, cfg.seed)
    snapshot, summary = model_drift(model.package, ref, current, cfg, where)
    summary["model"] = model.describe()
    page, data = write_report(snapshot, summary, out)
    metrics = {
        "drifted_share": summary["drifted_share"],
        "drifted_features": summary["drifted_features"],
        "dataset_drift": float(summary["dataset_drift"]),
        "prediction_drift_score": (summary["prediction"] or {}).get("score"),
        "reference_rows": summary["reference"]["rows_used"],
        "current_rows": summary["current"]["rows_used"],
        **{f"drift_score.{f['feature']}": f["score"] for f in summary["per_feature"]},
    }
    summary["mlflow_run_id"] = _log(client, settings, model, "drift", metrics, [data, page])
    data.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def quality_report(
    settings, client, model: Model, dataset: Path, config: MonitoringConfig, out: Path
) -> dict:
    """AUC and calibration of ``model`` per labelled window of the dataset, oldest first, with
    Evidently's classification report on the latest window (the one before it as reference)."""
    frame, windows = scored_windows(model, dataset, config)
    scored = [w for w in windows if w["scored"]]
    latest = frame[frame["snapshot"] == pd.Timestamp(scored[-1]["window"])]
    before = None
    if len(scored) > 1:
        before = frame[frame["snapshot"] == pd.Timestamp(scored[-2]["window"])]
    out.mkdir(parents=True, exist_ok=True)
    page, data = out / "quality.html", out / "quality.json"
    classification_report(latest, before).save_html(str(page))
    summary = {
        "model": model.describe(),
        "dataset": str(dataset),
        "windows": windows,
        "latest": scored[-1],
        "report_reference": None if before is None else scored[-2]["window"],
    }
    stamp_html(page, _quality_lines(summary))
    data.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    run_id = _log(client, settings, model, "quality", {}, [data, page], windows=scored)
    summary["mlflow_run_id"] = run_id
    data.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def scored_windows(model: Model, dataset: Path, config: MonitoringConfig):
    """(snapshot, target, prediction) of every labelled row, and the metrics per window."""
    path = kind_data(dataset, model.kind)
    label = label_of(model)
    rows = read_sample(path, ["snapshot", *model.package.feature_names, label], None, 0).frame
    truth = pd.to_numeric(rows[label], errors="coerce").to_numpy(dtype=np.int64)
    score = model.score(rows)
    windows = by_window(rows["snapshot"], truth, score, config.quality)
    for window in windows:
        window["role"] = window_role(model.package.metadata, window["window"])
    if not any(w["scored"] for w in windows):
        raise InputError(f"{path}: no labelled window has enough rows of both classes")
    snapshots = pd.to_datetime(rows["snapshot"], utc=True)
    return pd.DataFrame({"snapshot": snapshots, "target": truth, "prediction": score}), windows


def window_role(metadata: dict, window: str) -> str:
    """What the model did with a window when it was trained: quality there is in-sample."""
    when = pd.Timestamp(window)

    def same(value) -> bool:
        return value is not None and pd.Timestamp(value) == when

    if any(same(v) for v in metadata.get("train_snapshots") or []):
        return "train"
    if same(metadata.get("validation_snapshot")):
        return "early stopping"
    if same(metadata.get("holdout_snapshot")):
        return "holdout"
    return "unseen"


def _quality_lines(summary: dict) -> list[str]:
    latest = summary["latest"]
    lines = [f"{summary['model']['name']} v{summary['model']['version']} on {summary['dataset']}"]
    lines += [
        f"window {w['window'][:10]} ({w['role']}): "
        + (
            f"ROC AUC {w['roc_auc']:.4f}, ECE {w['ece']:.4f}, {w['rows']:,} rows"
            if w["scored"]
            else f"not scored ({w['reason']})"
        )
        for w in summary["windows"]
    ]
    lines.append(
        f"This report: window {latest['window'][:10]} (current)"
        + (
            f" against {summary['report_reference'][:10]} (reference)"
            if summary["report_reference"]
            else ""
        )
    )
    return lines


def _log(client, settings, model: Model, what: str, metrics: dict, files, windows=()) -> str:
    """A run tagged with the model version; quality windows become a metric series whose step
    is the window's position and whose timestamp is the window's date."""
    experiment = registry.experiment_id(client, model.kind, settings.artifacts_dir)
    tags = {
        "monitoring": what,
        "kind": model.kind,
        "model_name": model.name,
        "model_version": str(model.version),
        "model_alias": model.alias,
        "model_run_id": model.run_id,
    }
    series = [
        (key, w[key], int(pd.Timestamp(w["window"]).timestamp() * 1000), step)
        for step, w in enumerate(windows)
        for key in ("roc_auc", "ece", "brier", "positive_rate", "mean_score", "rows")
    ]
    name = f"{what}-{model.kind}-v{model.version}"
    return registry.log_run(client, experiment, name, tags, metrics, list(files), series)
