"""Data and prediction drift with Evidently: explicit per-column tests, verdicts from test status.

Evidently's preset gate is lax (it passes with a third of the columns drifted), so every column
gets an explicit ``ValueDrift`` with the configured method and threshold, the share of drifted
columns an explicit ``DriftedColumnsCount`` share test, and the verdicts come from the tests'
status, never from re-reading raw values (a p-value method and a distance method point opposite
ways). Evidently is imported only when a report runs (it takes seconds to import).
"""

from __future__ import annotations

import html
import json
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import InputError
from monitoring.config import DriftConfig
from monitoring.stattest import register

VALUE_DRIFT = "evidently:metric_v2:ValueDrift"
DRIFTED_COUNT = "evidently:metric_v2:DriftedColumnsCount"


@dataclass(frozen=True)
class DriftSpec:
    """What to compare and how: column types, the method and every threshold."""

    numerical: tuple[str, ...]
    categorical: tuple[str, ...]
    method: str
    threshold: float
    drift_share: float
    per_feature: dict[str, float] = field(default_factory=dict)
    per_feature_method: dict[str, str] = field(default_factory=dict)
    prediction: str | None = None
    prediction_threshold: float = 0.1

    @property
    def features(self) -> list[str]:
        return [*self.categorical, *self.numerical]

    def threshold_for(self, column: str) -> float:
        if column == self.prediction:
            return self.prediction_threshold
        return self.per_feature.get(column, self.threshold)

    def method_for(self, column: str) -> str:
        return self.per_feature_method.get(column, self.method)


def spec_from_config(
    numerical: list[str], categorical: list[str], config: DriftConfig, prediction: str | None
) -> DriftSpec:
    return DriftSpec(
        numerical=tuple(numerical),
        categorical=tuple(categorical),
        method=config.method,
        threshold=config.threshold,
        drift_share=config.drift_share,
        per_feature=dict(config.per_feature),
        per_feature_method={
            c: m for c, m in config.per_feature_method.items() if c in numerical or c in categorical
        },
        prediction=prediction,
        prediction_threshold=config.prediction_threshold,
    )


def prepare(frame: pd.DataFrame, spec: DriftSpec) -> pd.DataFrame:
    """The compared columns with plain types: categories as strings (nulls kept), numbers float."""
    out = {}
    for name in spec.categorical:
        values = frame[name]
        out[name] = values.astype(str).where(values.notna(), np.nan).astype(object)
    for name in [*spec.numerical, *([spec.prediction] if spec.prediction else [])]:
        out[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return pd.DataFrame(out, index=frame.index)


def usable(
    reference: pd.DataFrame, current: pd.DataFrame, spec: DriftSpec
) -> tuple[DriftSpec, list[dict]]:
    """The spec without columns that hold no value on one side (nothing to compare)."""
    skipped = []
    for name in [*spec.features, *([spec.prediction] if spec.prediction else [])]:
        for side, frame in (("reference", reference), ("current", current)):
            if frame[name].notna().sum() == 0:
                skipped.append({"feature": name, "reason": f"no values in the {side} rows"})
                break
    gone = {s["feature"] for s in skipped}
    if not [c for c in spec.features if c not in gone]:
        raise InputError("no column has values on both sides: nothing to compare")
    return replace(
        spec,
        numerical=tuple(c for c in spec.numerical if c not in gone),
        categorical=tuple(c for c in spec.categorical if c not in gone),
        prediction=None if spec.prediction in gone else spec.prediction,
        per_feature_method={c: m for c, m in spec.per_feature_method.items() if c not in gone},
    ), skipped


def run_report(reference: pd.DataFrame, current: pd.DataFrame, spec: DriftSpec, render=True):
    """Run the Evidently report on prepared frames; returns (snapshot, summary).

    ``render=False`` (the gate) skips the per-column ``ValueDrift`` metrics, whose charts cost
    ~0.1 s a column: the share test and the prediction test still run as report tests, and each
    feature's score and verdict come from the same Evidently stattest the metric would call.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import DriftedColumnsCount, ValueDrift
    from evidently.tests import lt

    register()  # the product's default method, psi_quantile, is a stattest of our own
    numerical = [*spec.numerical, *([spec.prediction] if spec.prediction else [])]
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=spec.categorical)
    per_column = [*spec.features] if render else []
    metrics = [
        DriftedColumnsCount(
            columns=spec.features,
            method=spec.method,
            threshold=spec.threshold,
            per_column_threshold=spec.per_feature or None,
            per_column_method=spec.per_feature_method or None,
            share_tests=[lt(spec.drift_share)],
        ),
        *(
            ValueDrift(column=c, method=spec.method_for(c), threshold=spec.threshold_for(c))
            for c in [*per_column, *([spec.prediction] if spec.prediction else [])]
        ),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant columns: numpy's 0/0 notes
        snapshot = Report(metrics, include_tests=True).run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
        extra = {} if render else stattest_columns(reference, current, spec)
    return snapshot, summarize(snapshot.dict(), spec, extra)


def stattest_columns(reference: pd.DataFrame, current: pd.DataFrame, spec: DriftSpec) -> dict:
    """Each feature's score and verdict from Evidently's stattest (what ValueDrift runs)."""
    from evidently.legacy.calculations.stattests import get_stattest
    from evidently.legacy.core import ColumnType

    out = {}
    for name in spec.features:
        kind = ColumnType.Categorical if name in spec.categorical else ColumnType.Numerical
        ref = reference[name].replace([-np.inf, np.inf], np.nan).dropna()
        cur = current[name].replace([-np.inf, np.inf], np.nan).dropna()
        test = get_stattest(ref, cur, kind, spec.method_for(name))
        result = test(ref, cur, kind, spec.threshold_for(name))
        out[name] = _entry(name, float(result.drift_score), bool(result.drifted), test.name, spec)
    return out


def summarize(body: dict, spec: DriftSpec, columns: dict | None = None) -> dict:
    """Per-column score, method, threshold and verdict, and the share, from a snapshot's dict
    (plus ``columns`` already judged by a stattest).

    Verdicts are the tests' status: FAIL means drift; anything but SUCCESS or FAIL is an error.
    """
    status = {
        t["metric_config"]["metric_id"]: str(t["status"]).split(".")[-1] for t in body["tests"]
    }
    columns, share_status, evidently_share = dict(columns or {}), None, None
    for metric in body["metrics"]:
        kind = metric["config"]["type"]
        if kind == VALUE_DRIFT:
            name = metric["config"]["column"]
            columns[name] = _column(name, metric, status.get(metric["id"]), spec)
        elif kind == DRIFTED_COUNT:
            share_status = status.get(metric["id"])
            evidently_share = float(metric["value"]["share"])
    features = [columns[c] for c in spec.features if c in columns]
    drifted = sum(c["drifted"] for c in features)
    prediction = columns.get(spec.prediction) if spec.prediction else None
    dataset_drift = share_status == "FAIL"
    return {
        "method": spec.method,
        "threshold": spec.threshold,
        "per_feature_method": dict(spec.per_feature_method),
        "features": len(features),
        "drifted_features": drifted,
        "drifted_share": drifted / len(features) if features else 0.0,
        "evidently_drifted_share": evidently_share,
        "drift_share_threshold": spec.drift_share,
        "dataset_drift": dataset_drift,
        "prediction": prediction,
        "drift_found": dataset_drift or bool(prediction and prediction["drifted"]),
        "per_feature": features,
    }


def _column(name: str, metric: dict, status: str | None, spec: DriftSpec) -> dict:
    if status not in ("SUCCESS", "FAIL"):
        raise InputError(f"drift test for {name!r} did not run ({status}); check its values")
    method = metric["config"].get("method") or spec.method_for(name)
    return _entry(name, float(metric["value"]), status == "FAIL", method, spec)


def _entry(name: str, score: float, drifted: bool, method: str, spec: DriftSpec) -> dict:
    return {
        "feature": name,
        "type": "categorical" if name in spec.categorical else "numerical",
        "score": round(score, 6) if np.isfinite(score) else None,
        "method": method,
        "threshold": spec.threshold_for(name),
        "drifted": drifted,
        "verdict": "drift" if drifted else "ok",
    }


def write_report(snapshot, summary: dict, out: Path, stem: str = "drift") -> tuple[Path, Path]:
    """``<stem>.html`` (Evidently, with the sample stated on top) and ``<stem>.json``."""
    out.mkdir(parents=True, exist_ok=True)
    page, data = out / f"{stem}.html", out / f"{stem}.json"
    snapshot.save_html(str(page))
    stamp_html(page, headline(summary))
    data.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return page, data


def headline(summary: dict) -> list[str]:
    """Lines stating what was compared, on what sample, with which thresholds and verdict."""
    lines = [
        f"Reference: {_side(summary.get('reference'))}",
        f"Current: {_side(summary.get('current'))}",
        f"Method {summary['method']}, a feature drifts at score >= {summary['threshold']}; "
        f"the data drifts when >= {summary['drift_share_threshold']:.0%} of features drift."
        + _other_methods(summary.get("per_feature_method") or {}),
        f"Drifted features: {summary['drifted_features']} of {summary['features']} "
        f"({summary['drifted_share']:.1%}); dataset drift: {summary['dataset_drift']}.",
    ]
    pred = summary.get("prediction")
    if pred:
        lines.append(
            f"Prediction drift: score {pred['score']} (threshold {pred['threshold']}): "
            f"{pred['verdict']}."
        )
    return lines


def verdict_line(summary: dict) -> str:
    """The verdict in one line, with why: how many features drifted against the share at which
    the data drifts, and the prediction's score against its threshold (the cause named first).

    >>> verdict_line({"drift_found": False, "dataset_drift": False, "drifted_features": 17,
    ...     "features": 65, "drifted_share": 17 / 65, "drift_share_threshold": 0.3})
    'no drift: 17 of 65 features drifted (26.2%), under the 30% at which the data drifts'
    """
    share = f"{summary['drift_share_threshold']:.0%}"
    features = (
        f"{summary['drifted_features']} of {summary['features']} features drifted "
        f"({summary['drifted_share']:.1%}), "
        + ("reaching" if summary["dataset_drift"] else "under")
        + f" the {share} at which the data drifts"
    )
    pred = summary.get("prediction")
    parts = [features]
    if pred:
        score = "-" if pred["score"] is None else f"{pred['score']:.4g}"
        said = "the prediction drifted" if pred["drifted"] else "the prediction did not drift"
        text = f"{said} (score {score}, {pred['method']}, threshold {pred['threshold']})"
        parts.insert(0 if pred["drifted"] and not summary["dataset_drift"] else 1, text)
    return ("drift found: " if summary["drift_found"] else "no drift: ") + "; ".join(parts)


def _other_methods(methods: dict[str, str]) -> str:
    if not methods:
        return ""
    by_method: dict[str, list[str]] = {}
    for column, method in methods.items():
        by_method.setdefault(method, []).append(column)
    parts = [f"{m} for {', '.join(sorted(cols))}" for m, cols in sorted(by_method.items())]
    return " Other methods: " + "; ".join(parts) + "."


def _side(info: dict | None) -> str:
    if not info:
        return "-"
    used = f"{info['rows_used']:,} of {info['rows']:,} rows"
    how = f" ({info['strategy']}, seed {info['seed']})" if info.get("sampled") else ""
    return f"{info['path']}: {used}{how}"


def stamp_html(page: Path, lines: list[str]) -> None:
    """Put a short plain-text header at the top of an Evidently page (what the sample was)."""
    text = page.read_text(encoding="utf-8")
    banner = (
        '<div style="font-family:sans-serif;padding:12px 16px;background:#f4f6f8;'
        'border-bottom:1px solid #ccd">'
        + "".join(f"<div>{html.escape(line)}</div>" for line in lines)
        + "</div>"
    )
    at = text.find("<body")
    end = text.find(">", at) + 1 if at >= 0 else 0
    page.write_text(text[:end] + banner + text[end:], encoding="utf-8")
