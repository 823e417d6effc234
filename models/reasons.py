"""Reason codes: the features that pushed one score up or down, in words an auditor reads.

Contributions come from LightGBM's ``pred_contrib`` (exact TreeSHAP, in log-odds), so serving
never imports the shap package.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.definitions import SPECS as FEATURE_SPECS

_OFFER_WORDS = {
    "offer_type": "Type of the offer",
    "offer_value": "Value of the offer to the customer",
    "offer_points_cost": "Points the offer costs",
    "offer_valid_days": "Days the offer stays valid",
    "offer_channel": "Channel the offer goes through",
}


@dataclass(frozen=True)
class Reason:
    feature: str
    value: object
    contribution: float  # log-odds; > 0 raises the score

    def words(self, outcome: str) -> str:
        direction = "raises" if self.contribution > 0 else "lowers"
        return f"{describe(self.feature)}: {_fmt(self.value)} ({direction} {outcome})"


def describe(feature: str) -> str:
    if feature in _OFFER_WORDS:
        return _OFFER_WORDS[feature]
    spec = FEATURE_SPECS.get(feature)
    return spec.doc.rstrip(".").replace(" before T", "") if spec else feature


def _fmt(value: object) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return str(value)


def top_reasons(
    contributions: np.ndarray, names: list[str], values: list[list[object]], top: int = 3
) -> list[list[Reason]]:
    """For each row, the ``top`` features with the largest absolute contribution.

    Ties break by feature order so the same row always gets the same reasons.
    """
    per_feature = np.asarray(contributions)[:, : len(names)]
    order = np.argsort(-np.abs(per_feature), axis=1, kind="stable")[:, :top]
    return [
        [
            Reason(names[j], values[i][j], float(per_feature[i, j]))
            for j in order[i]
            if per_feature[i, j] != 0.0
        ]
        for i in range(len(per_feature))
    ]
