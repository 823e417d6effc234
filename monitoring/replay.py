"""Guardrail replay: the active contract policies decide over recent customers with a candidate
model's scores and with the champion's, through the policy simulation, and the two runs are
compared. The simulation decides each row through the service's own entry point
(``guardrails.engine.guard``) with in-memory books for the ledger (budgets, the lifetime total, caps
and contacts tracked in memory; nothing reaches the ledger; routes to review are counted).

Each contract decides for the customers of its own partner (``partner_id``), at each row's
``as_of``. Propensity is scored for every offer of the contract from the offer's attributes, as
the decision service does. The comparison: how far the candidate's budget spend runs ahead of
the baseline's over the same decision points (the lead of its cumulative points, in shares of the
period budget), the shift of the offer mix (total variation distance over the offers granted, per
contract) and the change of the share of decisions routed to review or rejected (the review
queue's load).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from guardrails.policy.compiled import CompiledPolicy
from guardrails.policy.simulation import (
    contract_rows,
    row_times,
    scores_from_columns,
    simulate,
)

Scorer = Callable[[pd.DataFrame], np.ndarray]
NO_OFFER = "none"


def offer_features(cp: CompiledPolicy) -> pd.DataFrame:
    """The propensity model's offer attributes of each offer in the contract's catalogue."""
    rows = [
        {
            "offer_id": co.offer.offer_id,
            "offer_type": co.offer.type,
            "offer_value": np.nan if co.offer.face_value is None else float(co.offer.face_value),
            "offer_points_cost": float(co.offer.points_cost),
            "offer_valid_days": float(co.offer.valid_days),
            "offer_channel": str(co.offer.channel),
        }
        for co in cp.offers
    ]
    return pd.DataFrame(rows)


def score_columns(
    rows: pd.DataFrame, cp: CompiledPolicy, scorers: Mapping[str, Scorer], cache: dict | None = None
) -> pd.DataFrame:
    """``churn``, ``risk`` and ``propensity:<offer_id>`` columns for the rows of one contract.

    ``cache`` keeps each scorer's scores per contract, so a model shared by two replays over
    the same rows (the kinds that are not gated) is scored once.
    """
    cache = {} if cache is None else cache

    def scored(kind: str, frame_of) -> np.ndarray:
        key = (id(scorers[kind]), cp.contract_id, kind)
        if key not in cache:
            cache[key] = np.asarray(scorers[kind](frame_of()), dtype=np.float64)
        return cache[key]

    out = rows.copy()
    out["churn"] = scored("churn", lambda: rows)
    out["risk"] = scored("risk", lambda: rows)
    offers = offer_features(cp)
    if len(offers):
        base = rows.drop(columns=[c for c in offers.columns if c in rows.columns])

        def pairs() -> pd.DataFrame:
            return base.reset_index(drop=True).merge(offers, how="cross")

        grid = scored("propensity", pairs).reshape(len(rows), len(offers))
        for j, offer_id in enumerate(offers["offer_id"]):
            out[f"propensity:{offer_id}"] = grid[:, j]
    return out


def run_policies(
    policies: Mapping[str, CompiledPolicy],
    rows: pd.DataFrame,
    scorers: Mapping[str, Scorer],
    cache: dict | None = None,
) -> tuple[pd.DataFrame, list[dict]]:
    """Decisions of every contract for its partner's customers, and each contract's summary."""
    frames, summaries = [], []
    for contract_id, cp in sorted(policies.items()):
        mine = contract_rows(cp, rows)
        if mine.empty:
            continue
        scored = score_columns(mine, cp, scorers, cache)
        offer_ids = [co.offer.offer_id for co in cp.offers]
        decisions, summary = simulate(
            cp, scored, scores_from_columns(scored, offer_ids), row_times(scored, None)
        )
        frames.append(decisions.assign(contract_id=contract_id))
        summaries.append(summary)
    if not frames:
        return pd.DataFrame(columns=["contract_id", "offer_id", "route", "points"]), summaries
    return pd.concat(frames, ignore_index=True), summaries


def outcome(decisions: pd.DataFrame) -> dict:
    """The figures one replay is judged on: the mix of offers granted, the review rate and the
    points granted. The mix is over granted offers only: budgets bind, so most decisions are
    "no offer" under any model, and a mix that counted them would hide what changed."""
    granted = decisions[decisions["offer_id"].notna()]
    key = granted["contract_id"].astype(str) + "/" + granted["offer_id"].astype(str)
    mix = key.value_counts(normalize=True).sort_index()
    review = decisions["route"].isin(["review", "reject"]).mean() if len(decisions) else 0.0
    return {
        "decisions": len(decisions),
        "offers": len(granted),
        "offer_mix": {k: round(float(v), 6) for k, v in mix.items()},
        "review_rate": float(review),
        "points": int(pd.to_numeric(granted["points"]).sum()),
    }


def max_budget_share(summaries: list[dict]) -> float:
    shares = [row["share"] for s in summaries for row in s["budget_burn"]]
    return float(max(shares)) if shares else 0.0


def spend_lead(candidate: pd.DataFrame, baseline: pd.DataFrame, budgets: Mapping[str, int]) -> dict:
    """How far the candidate's spend runs ahead of the baseline's on the same decision points.

    Both runs decide the same rows in the same order (time, then customer), so after each
    decision the points each has granted so far in the period can be compared. The lead is the
    largest excess of the candidate's running total over the baseline's, as a share of the
    period's budget (``budgets``: contract -> points per period): 0 when the candidate never
    spends faster; 0.5 when at some point it has spent half a budget more. Both runs ending at
    the full budget does not hide a candidate that got there on a fraction of the decisions.
    """
    lead: dict = {"lead": 0.0, "contract_id": None, "period": None}
    for key, mine in candidate.groupby("contract_id", sort=True):
        contract_id = str(key)
        theirs = baseline[baseline["contract_id"] == key]
        same = ("customer_id", "time")
        if len(mine) != len(theirs) or any(
            not np.array_equal(mine[c].to_numpy(), theirs[c].to_numpy()) for c in same
        ):
            raise ValueError(f"{contract_id}: the two replays decided different rows")
        period = mine["period"].to_numpy()
        spent, base = _running(mine, period), _running(theirs, period)
        share = (spent - base) / float(budgets[contract_id])
        at = int(np.argmax(share))
        if share[at] > lead["lead"]:
            in_period = period == period[at]
            lead = {
                "lead": float(share[at]),
                "contract_id": contract_id,
                "period": str(period[at]),
                "decision": int(in_period[: at + 1].sum()),
                "decisions": int(in_period.sum()),
                "candidate_points": int(spent[at]),
                "baseline_points": int(base[at]),
                "budget_points": int(budgets[contract_id]),
            }
    return lead


def _running(decisions: pd.DataFrame, period: np.ndarray) -> np.ndarray:
    """Points granted so far in each decision's period, after that decision (in row order)."""
    points = pd.to_numeric(decisions["points"]).where(decisions["offer_id"].notna(), 0)
    return points.groupby(period).cumsum().to_numpy(dtype=np.int64)


def total_variation(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Half the L1 distance between two distributions over the same outcomes (0 same, 1 apart;
    an empty distribution is 0 from another empty one and 1 from any other)."""
    if not p or not q:
        return 0.0 if not p and not q else 1.0
    keys = set(p) | set(q)
    return 0.5 * float(sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in keys))


def replay(
    policies: Mapping[str, CompiledPolicy],
    rows: pd.DataFrame,
    candidate: Mapping[str, Scorer],
    baseline: Mapping[str, Scorer] | None,
) -> dict:
    """Replay with the candidate's scores, and the baseline's when given; compare the two."""
    cache: dict = {}
    decisions, summaries = run_policies(policies, rows, candidate, cache)
    result = outcome(decisions)
    result["max_budget_share"] = max_budget_share(summaries)
    result["contracts"] = [s["contract_id"] for s in summaries]
    result["baseline"] = None
    if baseline is not None:
        base_decisions, base_summaries = run_policies(policies, rows, baseline, cache)
        base = outcome(base_decisions)
        base["max_budget_share"] = max_budget_share(base_summaries)
        result["baseline"] = base
        result["offer_mix_shift"] = total_variation(result["offer_mix"], base["offer_mix"])
        result["review_rate_increase"] = result["review_rate"] - base["review_rate"]
        budgets = {c: cp.policy.budget.points_per_period for c, cp in policies.items()}
        result["budget_lead"] = spend_lead(decisions, base_decisions, budgets)
    return result
