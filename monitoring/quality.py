"""Quality once labels mature: ROC AUC and calibration per labelled window (dataset snapshot).

The metrics are pure functions of labels and scores, with the same definitions as training's
holdout metrics (ECE: 10 equal-width bins, row-weighted), so a monitored AUC is comparable with
the one logged when the model was trained. The Evidently classification report is made on demand.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

from models.calibration import expected_calibration_error
from monitoring.config import QualityConfig


def window_metrics(label: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """AUC, ECE, Brier, positive rate, mean score and row count of one labelled window."""
    label = np.asarray(label, dtype=np.int64)
    score = np.asarray(score, dtype=np.float64)
    both = 0 < label.sum() < len(label)
    return {
        "roc_auc": float(roc_auc_score(label, score)) if both else float("nan"),
        "ece": expected_calibration_error(label, score),
        "brier": float(brier_score_loss(label, score)) if len(label) else float("nan"),
        "positive_rate": float(label.mean()) if len(label) else float("nan"),
        "mean_score": float(score.mean()) if len(score) else float("nan"),
        "rows": float(len(label)),
        "positives": float(label.sum()),
    }


def by_window(
    snapshots: pd.Series, label: np.ndarray, score: np.ndarray, config: QualityConfig
) -> list[dict]:
    """One entry per snapshot, oldest first; a window too small to judge says so."""
    out = []
    keys = pd.to_datetime(snapshots, utc=True)
    for when in sorted(keys.unique()):
        mask = (keys == when).to_numpy()
        rows, positives = int(mask.sum()), int(label[mask].sum())
        entry = {"window": pd.Timestamp(when).isoformat(), "rows": rows, "positives": positives}
        enough = (
            rows >= config.min_rows and min(positives, rows - positives) >= config.min_positives
        )
        if enough:
            entry.update(window_metrics(label[mask], score[mask]))
            entry["rows"], entry["positives"] = rows, positives
            entry["scored"] = True
        else:
            entry["scored"] = False
            entry["reason"] = (
                f"needs >= {config.min_rows} rows and >= {config.min_positives} of each class"
            )
        out.append(entry)
    return out


def classification_report(current: pd.DataFrame, reference: pd.DataFrame | None):
    """Evidently's classification preset on frames with ``target`` (0/1) and ``prediction``
    (probability) columns; the reference window, when given, is shown beside the current."""
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.presets import ClassificationPreset

    definition = DataDefinition(
        classification=[BinaryClassification(target="target", prediction_probas="prediction")],
        numerical_columns=["prediction"],
    )

    def dataset(frame: pd.DataFrame):
        body = pd.DataFrame(
            {
                "target": frame["target"].astype("int64").to_numpy(),
                "prediction": frame["prediction"].astype("float64").to_numpy(),
            }
        )
        return Dataset.from_pandas(body, data_definition=definition)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Report([ClassificationPreset()], include_tests=False).run(
            dataset(current), None if reference is None else dataset(reference)
        )
