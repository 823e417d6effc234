"""One entry point, two budgets: the same customers, policy, scores and budget give the same
decisions online (operations.decide over a real SQLite ledger and review queue) and offline (the
policy simulation's in-memory books), because both go through guardrails.engine.guard.

The online core here is the real decide path with stand-in models that answer a feature column
as their score, so both paths see exactly the same scores without training anything.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
from test_policy_helpers import compiled

from features.consent import consent_record
from guardrails.policy.simulation import row_times, scores_from_columns, simulate

# customer, as_of, marketing consent, data-sharing consent, home partner, churn, risk, propensity
DISTINCT = [
    ("c1", "2025-02-01", 1, 1, "P1", 0.5, 0.10, 0.40),
    ("c2", "2025-02-01", 0, 1, "P1", 0.5, 0.10, 0.40),  # no marketing consent
    ("c3", "2025-02-02", 1, 1, "P1", 0.9, 0.50, 0.60),  # routed to review: holds budget
    ("c4", "2025-02-03", 1, 1, "P2", 0.5, 0.10, 0.40),  # another partner's customer
    ("c5", "2025-02-03", 1, 1, "P1", 0.5, 0.95, 0.40),  # risk rejects
    ("c6", "2025-02-04", 1, 1, "P1", 0.7, 0.10, 0.50),  # the quarter's budget is short
    ("c7", "2025-02-05", 1, 1, "P1", 0.7, 0.10, 0.50),
    ("c8", "2025-04-01", 1, 1, "P1", 0.7, 0.10, 0.50),  # a new quarter: lifetime total binds
    ("c9", "2025-04-02", 1, 1, "P1", 0.7, 0.10, 0.50),
    ("c10", "2025-04-03", 1, 1, "P1", 0.7, 0.10, 0.50),
]
REPEATS = [
    ("r1", "2025-02-01", 1, 1, "P1", 0.5, 0.10, 0.40),
    ("r1", "2025-02-02", 1, 1, "P1", 0.5, 0.10, 0.40),  # A's cap of 1 per quarter is used
    ("r1", "2025-02-03", 1, 1, "P1", 0.5, 0.10, 0.40),
]
POLICY = {
    "budget.points_per_period": 2000,
    "budget.total_points": 3000,
    "risk_routing": {"approve_below": 0.3, "review_below": 0.7},
}


def _frame(rows) -> pd.DataFrame:
    columns = ["customer_id", "as_of", "consent_marketing", "consent_data_sharing", "partner_id"]
    frame = pd.DataFrame(rows, columns=[*columns, "churn", "risk", "propensity"])
    frame["as_of"] = pd.to_datetime(frame["as_of"], utc=True)
    return frame.assign(tenure_days=400.0, tier="gold")


class _Column:
    """A stand-in model: its score is one feature column (the others it reads are ignored)."""

    def __init__(self, kind: str, *names: str) -> None:
        self.kind = kind
        self.feature_names = list(names)
        self.contract = SimpleNamespace(hash=f"column-{kind}")

    def matrix_of(self, rows) -> np.ndarray:
        return np.asarray(rows, dtype=np.float64)

    def predict_matrix(self, x: np.ndarray) -> np.ndarray:
        return x[:, 0]

    def contributions_matrix(self, x: np.ndarray) -> np.ndarray:
        return np.zeros((len(x), len(self.feature_names) + 1))


def _models():
    from serving.model_set import ModelSet

    packages = {
        "churn": _Column("churn", "churn"),
        "risk": _Column("risk", "risk"),
        "propensity": _Column("propensity", "propensity", "offer_points_cost"),
    }
    loaded = {
        k: SimpleNamespace(name=f"stand-in-{k}", version="1", package=p)
        for k, p in packages.items()
    }
    return ModelSet(champions=loaded, source="test")


def _core(cp, frame: pd.DataFrame, url: str, clock: list[float]):
    """The parts of a DecisionCore that operations.decide reads, over a real ledger database."""
    from guardrails.ledger.stores import open_stores

    table = {str(r["customer_id"]): dict(r) for r in frame.drop(columns="as_of").to_dict("records")}
    quiet = SimpleNamespace(observe=lambda *_: None)
    return SimpleNamespace(
        policies={cp.contract_id: cp},
        clock=lambda: clock[0],  # the service's clock is at each decision's time
        settings=SimpleNamespace(clock_skew_s=300.0),
        controls=SimpleNamespace(paused=lambda _contract: None),
        customer_rows=lambda ids, _overrides: [dict(table[i]) for i in ids],
        consent_records=lambda ids, _overrides: [consent_record(table[i]) for i in ids],
        state=SimpleNamespace(
            customer=lambda *_: SimpleNamespace(
                consent={}, consent_at={}, contacts={}, declines=[], sends=[]
            )
        ),
        models=_models(),
        stores=open_stores(url, audit_key=b"a" * 32, pseudonym_key=b"p" * 32),
        metrics=SimpleNamespace(
            decision=lambda *_: None, latency=SimpleNamespace(labels=lambda *_: quiet)
        ),
        features=None,
    )


def _online(cp, frame: pd.DataFrame, url: str) -> list[tuple]:
    from serving import operations
    from serving.schemas import DecideRequest

    clock = [0.0]
    core = _core(cp, frame, url, clock)
    order = sorted(range(len(frame)), key=lambda i: (frame["as_of"][i], frame["customer_id"][i]))
    out = []
    try:
        for n in order:
            row = frame.iloc[n]
            req = DecideRequest(
                idempotency_key=f"parity-{n:04d}",
                customer_id=str(row["customer_id"]),
                contract_id=cp.contract_id,
                time=row["as_of"].to_pydatetime(),
            )
            clock[0] = row["as_of"].timestamp()
            r = operations.decide(core, req)
            out.append(
                (
                    req.customer_id,
                    r["offer_id"],
                    r["points"],
                    r["route"],
                )
            )
    finally:
        core.stores.close()
    return out


def _offline(cp, frame: pd.DataFrame) -> list[tuple]:
    decisions, _ = simulate(
        cp, frame, scores_from_columns(frame, ["A", "B"]), row_times(frame, None)
    )
    return [
        (c, None if pd.isna(o) else o, int(p), r)
        for c, o, p, r in zip(
            decisions["customer_id"],
            decisions["offer_id"],
            decisions["points"],
            decisions["route"],
            strict=True,
        )
    ]


def test_distinct_customers_get_the_same_decisions_online_and_offline(tmp_path) -> None:
    cp = compiled(**POLICY)
    frame = _frame(DISTINCT)
    online = _online(cp, frame, f"sqlite:///{tmp_path / 'ledger.db'}")
    offline = _offline(cp, frame)
    assert online == offline
    assert offline == [
        ("c1", "A", 1000, "approve"),
        ("c2", None, 0, "none"),  # no marketing consent: not scored, no risk to route by
        ("c3", "A", 1000, "review"),  # held while a person reviews it
        ("c4", None, 0, "none"),  # P1 may not use P2's customer's data: not scored
        ("c5", None, 0, "reject"),
        ("c6", None, 0, "approve"),  # the quarter's 2000 points are held
        ("c7", None, 0, "approve"),
        ("c8", "A", 1000, "approve"),  # the lifetime total of 3000 leaves 1000
        ("c9", None, 0, "approve"),
        ("c10", None, 0, "approve"),
    ]


def test_repeat_customers_get_the_same_decisions_online_and_offline(tmp_path) -> None:
    cp = compiled(**POLICY)
    frame = _frame(REPEATS)
    assert _online(cp, frame, f"sqlite:///{tmp_path / 'ledger.db'}") == _offline(cp, frame)
