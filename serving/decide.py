"""Pure wiring of one request: features -> model scores -> the inputs guardrails.decide needs.

No I/O: the service reads the stores and passes plain data in. Business rules stay in
guardrails/; this module only shapes data (feature rows, offer rows, scores, factors).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from guardrails.decision import Scores
from models.reasons import describe, top_reasons
from serving.model_set import ModelSet

OFFER_FEATURES = ("offer_type", "offer_value", "offer_points_cost", "offer_valid_days")


class FeatureError(ValueError):
    """Caller-sent features break the feature contract; ``problems`` are field-level messages."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def check_overrides(overrides: Mapping[str, Any], contract_features: Sequence[dict]) -> list[str]:
    """Field-level problems of caller-sent feature values against the feature contract."""
    specs = {f["name"]: f for f in contract_features}
    problems = []
    for name, value in overrides.items():
        spec = specs.get(name)
        where = f"features.{name}"
        if spec is None:
            problems.append(f"{where}: not a feature of contract version in use")
        elif value is None:
            if not spec.get("nullable"):
                problems.append(f"{where}: may not be null")
        elif spec["dtype"] == "category":
            if not isinstance(value, str):
                problems.append(f"{where}: must be a string (category)")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{where}: must be a number")
        elif spec["dtype"] == "int" and not float(value).is_integer():
            problems.append(f"{where}: must be an integer")
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(f"{where}: must be finite")
        else:
            lo, hi = spec.get("min"), spec.get("max")
            if lo is not None and value < lo:
                problems.append(f"{where}: {value} is below the minimum {lo}")
            if hi is not None and value > hi:
                problems.append(f"{where}: {value} is above the maximum {hi}")
    return problems


def customer_frame(
    stored: pd.DataFrame, ids: Sequence[str], overrides: Sequence[Mapping[str, Any] | None]
) -> pd.DataFrame:
    """One row per requested customer, stored values overridden by the caller's."""
    by_key = stored.set_index("customer_key")
    rows = []
    for cid, extra in zip(ids, overrides, strict=True):
        row = by_key.loc[cid].to_dict() if cid in by_key.index else {}
        row.update(extra or {})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[c for c in stored.columns if c != "customer_key"])
    return frame.reset_index(drop=True)


def offer_frame(customers: pd.DataFrame, offers: Sequence[Any]) -> pd.DataFrame:
    """(customer x offer) rows with the offer attributes the propensity model reads."""
    n, k = len(customers), len(offers)
    rows = customers.loc[np.repeat(np.arange(n), k)].reset_index(drop=True)
    rows["offer_type"] = [o.type for o in offers] * n
    rows["offer_value"] = [float(o.face_value or np.nan) for o in offers] * n
    rows["offer_points_cost"] = [float(o.points_cost) for o in offers] * n
    rows["offer_valid_days"] = [float(o.valid_days) for o in offers] * n
    rows["offer_channel"] = [str(o.channel) for o in offers] * n
    return rows


def predict(models: ModelSet, customers: pd.DataFrame, offers: Sequence[Any], shadow=False):
    """Scores per customer: {'churn': [...], 'risk': [...], 'propensity': [[per offer]...]}."""
    source = models.challengers if shadow else models.champions
    out: dict[str, Any] = {}
    for kind in ("churn", "risk"):
        if kind in source:
            out[kind] = [float(p) for p in source[kind].package.predict(customers)]
    if "propensity" in source and offers:
        p = source["propensity"].package.predict(offer_frame(customers, offers))
        out["propensity"] = p.reshape(len(customers), len(offers)).tolist()
    return out


def factors(models: ModelSet, customers: pd.DataFrame, kinds=("churn", "risk"), top: int = 3):
    """Top reason codes per kind and row: (feature, value, contribution, words)."""
    out: dict[str, list[list[tuple[str, Any, float, str]]]] = {}
    for kind in kinds:
        if kind not in models.champions:
            continue
        package = models.champions[kind].package
        names = package.feature_names
        values = customers[names].astype(object).to_numpy().tolist()
        found = top_reasons(package.contributions(customers), names, values, top)
        outcome = {"churn": "churn risk", "risk": "the risk score"}.get(kind, "acceptance")
        out[kind] = [
            [(r.feature, _plain(r.value), r.contribution, r.words(outcome)) for r in row]
            for row in found
        ]
    return out


def scores_for(row: int, scored: Mapping[str, Any], offers: Sequence[Any], fx) -> Scores:
    """guardrails' Scores for one customer row (None where a model did not answer)."""
    prop = scored.get("propensity")
    propensity = (
        {o.offer_id: float(p) for o, p in zip(offers, prop[row], strict=True)} if prop else {}
    )
    return Scores(
        churn=scored["churn"][row] if "churn" in scored else None,
        risk=scored["risk"][row] if "risk" in scored else None,
        propensity=propensity,
        factors={k: [(f, c) for f, _, c, _ in v[row]] for k, v in fx.items()},
    )


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def word(feature: str) -> str:
    return describe(feature)
