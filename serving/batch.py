"""Batch scoring of one chunk: pure frames in, frames out, the same code for every engine.

The one-machine path and the Spark path both call ``score_chunk`` on a pandas frame with the
packaged models, so their results are identical row for row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.offers import NUMERIC, OFFER_COLUMNS, as_numbers
from models.package import ModelPackage
from models.reasons import top_reasons


@dataclass(frozen=True)
class BatchModel:
    """A packaged model with the registry coordinates written on every scored row."""

    kind: str
    name: str
    version: int
    package: ModelPackage


def candidate_offers(offers: pd.DataFrame, contracts: pd.DataFrame | None) -> pd.DataFrame:
    """Offers with their partner and propensity features: a customer's candidates are the offers
    of its partner's contracts."""
    table = offers.copy()
    if "partner_id" not in table.columns:
        if contracts is None or "contract_id" not in table.columns:
            raise ValueError(
                "offers need a partner_id column, or a contract_id and a contracts table"
            )
        partners = contracts.set_index("contract_id")["partner_id"]
        table["partner_id"] = table["contract_id"].map(partners)
    missing = [c for c in ("offer_id", "partner_id", *OFFER_COLUMNS) if c not in table.columns]
    if missing:
        raise ValueError(f"offers table: missing column(s) {missing}")
    table = table.rename(columns=OFFER_COLUMNS)
    for name in NUMERIC:
        table[name] = as_numbers(table[name])
    keep = ["offer_id", "partner_id", *OFFER_COLUMNS.values()]
    return table[keep].astype({"offer_id": str, "partner_id": str}).reset_index(drop=True)


def customer_scores(chunk: pd.DataFrame, models: list[BatchModel]) -> pd.DataFrame:
    """One row per customer: a score and the model version for each customer-level kind."""
    out = pd.DataFrame({"customer_id": chunk["customer_id"].to_numpy()})
    for model in models:
        out[model.kind] = model.package.predict(chunk)
        out[f"{model.kind}_model"] = f"{model.name}/{model.version}"
    return out


def offer_pairs(chunk: pd.DataFrame, offers: pd.DataFrame) -> pd.DataFrame:
    """Every (customer, candidate offer) pair of the chunk, with customer and offer features."""
    partner = chunk["partner_id"].astype(str).rename("partner_id")
    left = chunk.drop(columns=["partner_id"]).assign(partner_id=partner.to_numpy())
    pairs = left.merge(offers, on="partner_id", how="inner", sort=False)
    pairs["partner_id"] = pairs["partner_id"].astype("category")
    return pairs


def offer_scores(chunk: pd.DataFrame, offers: pd.DataFrame, model: BatchModel) -> pd.DataFrame:
    pairs = offer_pairs(chunk, offers)
    return pd.DataFrame(
        {
            "customer_id": pairs["customer_id"].to_numpy(),
            "offer_id": pairs["offer_id"].to_numpy(),
            "propensity": model.package.predict(pairs) if len(pairs) else np.empty(0),
            "propensity_model": f"{model.name}/{model.version}",
        }
    )


def reason_rows(chunk: pd.DataFrame, model: BatchModel, top: int = 3) -> pd.DataFrame:
    """Reason codes (exact TreeSHAP) for the given rows, one line per (customer, rank)."""
    package = model.package
    if chunk.empty:
        return pd.DataFrame(
            columns=["customer_id", "kind", "rank", "feature", "value", "contribution", "words"]
        )
    contributions = package.contributions(chunk)
    values = chunk[package.feature_names].astype(object).to_numpy().tolist()
    reasons = top_reasons(contributions, package.feature_names, values, top)
    outcome = {"churn": "churn risk", "risk": "abuse risk"}.get(model.kind, "the score")
    rows = [
        (cid, model.kind, rank + 1, r.feature, str(r.value), r.contribution, r.words(outcome))
        for cid, found in zip(chunk["customer_id"].to_numpy(), reasons, strict=True)
        for rank, r in enumerate(found)
    ]
    columns = ["customer_id", "kind", "rank", "feature", "value", "contribution", "words"]
    return pd.DataFrame(rows, columns=columns)
