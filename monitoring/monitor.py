"""``monitor run``: drift and quality of every champion into a dated folder, and the index.

Layout under ``$LOYALTY_HOME/reports``::

    <UTC time>/monitor.json          what this run measured (headline figures per model)
    <UTC time>/<kind>/drift.html     Evidently drift report (+ drift.json)
    <UTC time>/<kind>/quality.html   Evidently classification report (+ quality.json)
    <UTC time>/index.html            this run's reports and the trends up to it
    <UTC time>/trend_<figure>.png    each headline figure across every monitor run so far
    index.html                       every run, newest first, with the latest trends
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from features.errors import InputError
from monitoring.config import MonitoringConfig
from monitoring.gate_inputs import KINDS, load_model
from monitoring.index_page import run_page, top_page, trend_plots
from monitoring.model_reports import drift_report, quality_report
from monitoring.tables import kind_data, last_snapshot, snapshot_filter

RUN_FILE = "monitor.json"
HEADLINES = {
    "roc_auc": "ROC AUC, latest labelled window",
    "ece": "calibration error (ECE), latest labelled window",
    "drifted_share": "share of drifted features, latest window vs reference",
    "prediction_drift": "prediction drift (PSI), latest window vs reference",
}


def new_folder(root: Path, now: dt.datetime) -> Path:
    """``root/<UTC time>``, with a suffix when a run in the same second exists."""
    base = now.strftime("%Y%m%dT%H%M%SZ")
    folder, n = root / base, 1
    while folder.exists():
        folder, n = root / f"{base}-{n}", n + 1
    folder.mkdir(parents=True)
    return folder


def run_monitor(settings, client, dataset: Path, config: MonitoringConfig, report) -> dict:
    """Drift (last snapshot vs the champion's reference) and quality (every window) of each
    champion; returns the run's summary, also written as ``monitor.json``."""
    champions = {kind: load_model(settings, client, kind, "champion") for kind in KINDS}
    if all(c is None for c in champions.values()):
        raise InputError("no model has a champion: nothing to monitor (`loyalty promote`)")
    now = dt.datetime.now(dt.UTC)
    root = settings.home / "reports"
    folder = new_folder(root, now)
    models = []
    for kind, champion in champions.items():
        if champion is None:
            models.append({"kind": kind, "status": "no champion"})
            continue
        if not (Path(dataset) / kind / "data").is_dir():
            models.append({"kind": kind, "status": f"no {kind} rows in {dataset}"})
            continue
        path = kind_data(dataset, kind)
        window = last_snapshot(path)
        report(f"{kind}: drift of window {window.date()} against the reference sample")
        where = snapshot_filter(window)
        drift = drift_report(settings, client, champion, path, None, config, folder / kind, where)
        report(f"{kind}: quality per labelled window")
        quality = quality_report(settings, client, champion, dataset, config, folder / kind)
        models.append(_entry(kind, champion, window, drift, quality))
    summary = {
        "created_at": now.isoformat(timespec="seconds"),
        "folder": folder.name,
        "dataset": str(dataset),
        "models": models,
    }
    (folder / RUN_FILE).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    write_index(root, folder)
    return summary


def _entry(kind: str, champion, window, drift: dict, quality: dict) -> dict:
    latest = quality["latest"]
    return {
        "kind": kind,
        "status": "ok",
        "model": champion.describe(),
        "window": window.isoformat(),
        "headline": {
            "roc_auc": latest["roc_auc"],
            "ece": latest["ece"],
            "drifted_share": drift["drifted_share"],
            "prediction_drift": (drift["prediction"] or {}).get("score"),
            "rows_current": drift["current"]["rows"],
            "rows_window": latest["rows"],
        },
        "drift_found": drift["drift_found"],
        "files": [
            f"{kind}/drift.html",
            f"{kind}/drift.json",
            f"{kind}/quality.html",
            f"{kind}/quality.json",
        ],
        "runs": {"drift": drift["mlflow_run_id"], "quality": quality["mlflow_run_id"]},
    }


def history(root: Path) -> list[dict]:
    """Every monitor run under ``root``, oldest first."""
    runs = []
    for path in sorted(Path(root).glob(f"*/{RUN_FILE}")):
        try:
            runs.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # a half-written or foreign file is not a run
    return sorted(runs, key=lambda r: r["created_at"])


def write_index(root: Path, folder: Path) -> list[Path]:
    """Trend plots in ``folder``, its index.html, and the top-level index.html."""
    runs = history(root)
    plots = trend_plots(runs, HEADLINES, folder)
    current = next(r for r in runs if r["folder"] == folder.name)
    (folder / "index.html").write_text(run_page(current, plots, HEADLINES), encoding="utf-8")
    top = root / "index.html"
    top.write_text(top_page(runs, folder.name, plots, HEADLINES), encoding="utf-8")
    return [folder / "index.html", top, *plots]
