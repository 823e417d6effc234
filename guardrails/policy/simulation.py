"""Run a policy over a customer feature table and scores, with no ledger: who gets what, the
budget burn per period, and how often each rule binds.

Each row goes through the same entry point as the decision service (guardrails.engine.guard),
with in-memory books in place of the ledger: budgets (the ledger's scopes and limits, the
contract's lifetime total included), caps and contact limits are tracked in time order, so a
simulation shows when a period's budget runs out. Decisions routed to review are counted.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal

import pandas as pd

from features.errors import InputError
from guardrails.decision import Decision, Request, Scores
from guardrails.engine import (
    Books,
    CountedReviews,
    DecisionContext,
    GuardedDecision,
    History,
    guard,
)
from guardrails.ledger.model import Scope, ScopeKind
from guardrails.money import decimals
from guardrails.policy.compiled import CompiledPolicy
from guardrails.policy.sim_inputs import timestamps

CONSENT_COLUMNS = ("consent_marketing", "consent_data_sharing", "partner_id")
NOT_BINDING = {"chosen", "consent_basis", "model_factors", "books", "not_scored"}


def scores_from_columns(frame: pd.DataFrame, offer_ids: list[str]) -> list[Scores]:
    """Scores per row from columns: churn, risk, and propensity (every offer) or
    propensity:<offer_id> (one offer; overrides the shared column)."""
    missing = [c for c in ("churn", "risk") if c not in frame.columns]
    per_offer = {o: f"propensity:{o}" for o in offer_ids if f"propensity:{o}" in frame.columns}
    if missing or ("propensity" not in frame.columns and not per_offer):
        need = missing + ([] if per_offer or "propensity" in frame.columns else ["propensity"])
        raise InputError(
            f"scores need the columns {', '.join(need)} (propensity, or propensity:<offer_id> "
            "per offer); give them in the feature table or with --scores"
        )
    churn = _floats(frame["churn"])
    risk = _floats(frame["risk"])
    shared = _floats(frame["propensity"]) if "propensity" in frame.columns else None
    columns = {o: _floats(frame[c]) for o, c in per_offer.items()}
    out = []
    for i in range(len(frame)):
        prop: dict[str, float | None] = (
            dict.fromkeys(offer_ids, shared[i]) if shared is not None else {}
        )
        prop.update({o: col[i] for o, col in columns.items()})
        out.append(Scores(churn[i], risk[i], {o: p for o, p in prop.items() if p is not None}))
    return out


def _floats(column: pd.Series) -> list[float | None]:
    values = pd.to_numeric(column, errors="coerce")
    return [None if pd.isna(v) else float(v) for v in values]


def row_times(frame: pd.DataFrame, at: dt.datetime | None) -> list[dt.datetime]:
    """The request time of each row: ``at`` for all, else the row's ``as_of``."""
    if at is not None:
        return [at] * len(frame)
    if "as_of" not in frame.columns:
        raise InputError("the feature table has no as_of column: give the decision time with --at")
    stamps = timestamps(frame["as_of"], "the feature table: column 'as_of'")
    if stamps.isna().any():
        row = int(stamps.isna().to_numpy().nonzero()[0][0])
        raise InputError(f"the feature table: column 'as_of', row {row}: no value")
    return [t.to_pydatetime() for t in stamps]


def contract_rows(cp: CompiledPolicy, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the contract's own customers (``partner_id`` equal to the contract's partner).

    A contract decides for its partner's customers; another partner's customers reach it only
    through a request that names them, which a table without ``partner_id`` cannot tell apart.
    """
    if "partner_id" not in frame.columns:
        return frame
    mine = (frame["partner_id"].astype(str) == cp.policy.partner_id).to_numpy()
    return frame[mine].reset_index(drop=True)


def simulate(
    cp: CompiledPolicy,
    frame: pd.DataFrame,
    scores: list[Scores],
    times: list[dt.datetime],
    channel: str | None = None,
    partner: str | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Decide for every row in time order; returns one row per decision and the summary."""
    if "customer_id" not in frame.columns:
        raise InputError("the feature table needs a customer_id column")
    columns = [c for c in (*cp.features, *CONSENT_COLUMNS) if c in frame.columns]
    records = frame[columns].to_dict("records")
    customers = frame["customer_id"].astype(str).tolist()
    order = sorted(range(len(frame)), key=lambda i: (times[i], customers[i]))
    books, reviews = Books(), CountedReviews()
    rows = []
    for n, i in enumerate(order):
        guarded = _decide_row(
            cp, books, reviews, n, records[i], customers[i], times[i], scores[i], channel, partner
        )
        rows.append(_row(customers[i], times[i], guarded))
    decisions = pd.DataFrame(rows)
    return decisions, summarize(cp, decisions, books)


def _decide_row(
    cp, books: Books, reviews, n: int, features, customer, when, scores, channel, partner
) -> GuardedDecision:
    context = DecisionContext(
        policy=cp,
        customer_key=customer,
        features=features,
        request=Request(time=when, channel=channel, partner_id=partner),
        history=History(),  # no other system reports sends offline
        scores=scores,
        idempotency_key=f"simulate-{n}",
        decision_id=f"simulate-{n}",
    )
    guarded = guard(context, books, reviews)
    if guarded.granted:
        books.record(guarded.decision)
    return guarded


def _row(customer: str, when: dt.datetime, guarded: GuardedDecision) -> dict:
    d = guarded.decision
    binding = [f"{r.code}@{r.clause}" for r in d.reasons if _binds(r.code, d)]
    if d.offer_id is not None and not guarded.granted:  # the books refused the hold
        binding.insert(0, "budget@budget")
    granted = guarded.granted
    return {
        "customer_id": customer,
        "time": when,
        "period": d.period,
        "offer_id": d.offer_id if granted else None,
        "points": d.points if granted else 0,
        "cost": d.cost if granted else 0.0,
        "expected_value": d.expected_value,
        "route": d.route,
        "binding": ";".join(binding),
        "policy_version": d.policy_version,
    }


def _binds(code: str, d: Decision) -> bool:
    if code == "risk_route":
        return d.route != "approve"
    return code not in NOT_BINDING


def _money_spent(cp: CompiledPolicy, books: Books, period: str) -> float:
    """Money the period's grants cost (points' worth plus money values), in major units."""
    scope = Scope(ScopeKind.CONTRACT_MONEY, cp.contract_id, period)
    return float(Decimal(books.taken[scope.id]).scaleb(-decimals(cp.policy.budget.currency)))


def summarize(cp: CompiledPolicy, decisions: pd.DataFrame, books: Books) -> dict:
    """Who gets what, budget burn per period and how often each rule binds."""
    budget = cp.policy.budget
    granted = decisions[decisions["offer_id"].notna()] if len(decisions) else decisions
    by_offer = {
        str(oid): {"grants": len(g), "points": int(g["points"].sum())}
        for oid, g in (granted.groupby("offer_id") if len(granted) else [])
    }
    burn = [
        {
            "period": period,
            "points": int(points),
            "money": _money_spent(cp, books, period),
            "budget_points": budget.points_per_period,
            "share": round(points / budget.points_per_period, 4),
        }
        for period, points in sorted(books.spent.items())
    ]
    binds: Counter = Counter()
    for cell in decisions.get("binding", []):
        binds.update(p for p in cell.split(";") if p)
    return {
        "contract_id": cp.contract_id,
        "policy_version": cp.version,
        "decisions": len(decisions),
        "offers": len(granted),
        "no_offer": int(len(decisions) - len(granted)),
        "routes": {str(k): int(v) for k, v in Counter(decisions.get("route", [])).items()},
        "by_offer": by_offer,
        "budget_burn": burn,
        "rule_binds": dict(sorted(binds.items(), key=lambda kv: (-kv[1], kv[0]))),
    }
