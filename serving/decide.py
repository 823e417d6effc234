"""Pure wiring of one request: features -> model scores -> the inputs guardrails.decide needs.

No I/O: the service reads the stores and passes plain data in. Business rules stay in
guardrails/; this module only shapes data (feature rows, offer rows, scores, factors).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from features.offers import offer_feature_values
from guardrails.decision import Scores
from models.package import FeatureMismatchError
from models.reasons import describe, top_reasons
from serving.model_set import ModelSet


def customer_rows(
    stored: Mapping[str, Mapping[str, Any]],
    ids: Sequence[str],
    overrides: Sequence[Mapping[str, Any] | None],
    names: Sequence[str],
) -> list[dict[str, Any]]:
    """One plain row per requested customer (every feature name), stored values overridden by
    the caller's; a feature neither stored nor sent is None (unknown)."""
    rows = []
    for cid, extra in zip(ids, overrides, strict=True):
        base = stored.get(cid)
        row = dict(base) if base is not None else dict.fromkeys(names)
        if extra:
            row.update(extra)
        rows.append(row)
    return rows


def offer_values(offer: Any) -> dict[str, Any]:
    """The propensity features of a policy's catalogue offer (features.offers defines them)."""
    return offer_feature_values(
        offer_type=offer.type,
        value=offer.face_value,
        points_cost=offer.points_cost,
        valid_days=offer.valid_days,
        channel=offer.channel,
    )


class Rows:
    """One request's feature rows, turned into each model's float matrix once.

    Models with the same feature contract (a kind's champion and challenger, usually) share the
    matrix, so shadow scoring costs only the trees. Propensity reads (customer x offer) rows.
    """

    def __init__(self, rows: list[dict[str, Any]], offers: Sequence[Any] = ()) -> None:
        self.rows = rows
        self.offers = list(offers)
        self._pairs: list[dict[str, Any]] | None = None
        self._matrices: dict[tuple[str, bool], np.ndarray] = {}

    def pairs(self) -> list[dict[str, Any]]:
        if self._pairs is None:
            extra = [offer_values(o) for o in self.offers]
            self._pairs = [{**row, **e} for row in self.rows for e in extra]
        return self._pairs

    def matrix(self, models: ModelSet, package: Any, pairs: bool = False) -> np.ndarray:
        key = (models.contract_key(package), pairs)
        x = self._matrices.get(key)
        if x is None:
            source = self.pairs() if pairs else self.rows
            names = package.feature_names
            if source and any(n not in source[0] for n in names):
                missing = [n for n in names if n not in source[0]]
                raise FeatureMismatchError(f"{package.kind}: missing feature(s) {missing[:10]}")
            x = self._matrices[key] = package.matrix_of([[r[n] for n in names] for r in source])
        return x

    def values(self, names: Sequence[str]) -> list[list[Any]]:
        """Values as reason codes show them (unknown as NaN, like a feature frame)."""
        return [[_nan_if_none(r.get(n)) for n in names] for r in self.rows]


def predict(models: ModelSet, rows: Rows, shadow: bool = False) -> dict[str, Any]:
    """Scores per customer: {'churn': [...], 'risk': [...], 'propensity': [[per offer]...]}."""
    source = models.challengers if shadow else models.champions
    out: dict[str, Any] = {}
    for kind in ("churn", "risk"):
        if kind in source:
            package = source[kind].package
            out[kind] = package.predict_matrix(rows.matrix(models, package)).tolist()
    if "propensity" in source and rows.offers:
        package = source["propensity"].package
        p = package.predict_matrix(rows.matrix(models, package, pairs=True))
        out["propensity"] = p.reshape(len(rows.rows), len(rows.offers)).tolist()
    return out


def factors(models: ModelSet, rows: Rows, kinds=("churn", "risk"), top: int = 3):
    """Top reason codes per kind and row: (feature, value, contribution, words); TreeSHAP
    (``pred_contrib``) runs only for these kinds and rows."""
    out: dict[str, list[list[tuple[str, Any, float, str]]]] = {}
    for kind in kinds:
        if kind not in models.champions:
            continue
        package = models.champions[kind].package
        names = package.feature_names
        contributions = package.contributions_matrix(rows.matrix(models, package))
        found = top_reasons(contributions, names, rows.values(names), top)
        outcome = {"churn": "churn risk", "risk": "the risk score"}.get(kind, "acceptance")
        out[kind] = [
            [(r.feature, _plain(r.value), r.contribution, r.words(outcome)) for r in row]
            for row in found
        ]
    return out


def _nan_if_none(value: Any) -> Any:
    return np.nan if value is None else value


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
