"""Holdout evaluation against the oracle, and the artifacts a run leaves for people and monitors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from models.package import ModelPackage
from models.specs import ModelSpec
from training import plots
from training.metrics import evaluate

ID_COLUMNS = ("customer_id", "send_event_id")


def holdout_metrics(
    label: np.ndarray, score: np.ndarray, oracle: np.ndarray | None, spec: ModelSpec
) -> dict[str, float]:
    """Model metrics under plain names; the oracle's on the same rows as ``oracle_<name>``."""
    metrics = evaluate(label, score, spec.review_share)
    if oracle is not None:
        known = ~np.isnan(oracle)
        if known.all():
            truth = evaluate(label, oracle, spec.review_share)
            metrics.update({f"oracle_{k}": v for k, v in truth.items() if k != "rows"})
            metrics["roc_auc_over_oracle"] = metrics["roc_auc"] / metrics["oracle_roc_auc"]
        metrics["oracle_rows"] = float(known.sum())
    return metrics


def reference_sample(
    frame: pd.DataFrame, score: np.ndarray, package: ModelPackage, label: str, rows: int, seed: int
) -> pd.DataFrame:
    """Features, prediction and label of a seeded sample of training rows, without raw ids."""
    take = np.random.default_rng(seed).permutation(len(frame))[: min(rows, len(frame))]
    take.sort()
    keep = ["as_of", *package.feature_names, label]
    sample = frame.iloc[take][[c for c in keep if c in frame.columns]].reset_index(drop=True)
    sample["prediction"] = score[take]
    return sample


def write_plots(
    folder: Path,
    kind: str,
    label: np.ndarray,
    scores: dict[str, np.ndarray],
    shap_inputs: tuple[np.ndarray, pd.DataFrame] | None,
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = [
        plots.roc_plot(label, scores, f"{kind}: ROC (holdout)", folder / "roc.png"),
        plots.pr_plot(label, scores, f"{kind}: precision-recall (holdout)", folder / "pr.png"),
        plots.calibration_plot(
            label, scores, f"{kind}: calibration (holdout)", folder / "calibration.png"
        ),
    ]
    if shap_inputs is not None:
        contributions, x = shap_inputs
        out.append(
            plots.shap_summary_plot(
                contributions, x, f"{kind}: SHAP summary", folder / "shap_summary.png"
            )
        )
    return out


def write_json(path: Path, body: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2, default=str, sort_keys=True) + "\n")
    return path
