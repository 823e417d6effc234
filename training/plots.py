"""Evaluation images: ROC, precision-recall, calibration and SHAP summary (PNG files)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def roc_plot(label, scores: dict[str, np.ndarray], title: str, path: Path) -> Path:
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, score in scores.items():
        fpr, tpr, _ = roc_curve(label, score)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(label, score):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right")
    return _save(fig, path)


def pr_plot(label, scores: dict[str, np.ndarray], title: str, path: Path) -> Path:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, score in scores.items():
        precision, recall, _ = precision_recall_curve(label, score)
        ap = average_precision_score(label, score)
        ax.plot(recall, precision, label=f"{name} (AP {ap:.3f})")
    ax.axhline(np.mean(label), color="grey", lw=0.8, ls="--", label="base rate")
    ax.set(xlabel="recall", ylabel="precision", title=title)
    ax.legend(loc="upper right")
    return _save(fig, path)


def calibration_plot(label, scores: dict[str, np.ndarray], title: str, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for name, score in scores.items():
        bins = pd.qcut(score, 10, duplicates="drop")
        table = pd.DataFrame({"s": score, "y": label}).groupby(bins, observed=True).mean()
        ax.plot(table["s"], table["y"], marker="o", label=name)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="perfect")
    ax.set(xlabel="mean predicted probability (decile)", ylabel="observed rate", title=title)
    ax.legend(loc="upper left")
    return _save(fig, path)


def shap_summary_plot(
    contributions: np.ndarray, x: pd.DataFrame, title: str, path: Path, seed: int = 0
) -> Path:
    """SHAP beeswarm from LightGBM's exact contributions (no explainer needed).

    The beeswarm's jitter and draw order come from a generator seeded with ``seed``, never from
    NumPy's global random state: the same inputs give the same image.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import shap

    plt = _pyplot()
    shap.summary_plot(
        contributions[:, :-1],
        x,
        show=False,
        max_display=20,
        plot_size=(8, 7),
        rng=np.random.default_rng(seed),
    )
    fig = plt.gcf()
    fig.suptitle(title)
    return _save(fig, path)
