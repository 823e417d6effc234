"""Policy evaluation plus arbitration for one decision over 20 offers: <= 1 ms (median).

A contract of 20 offers, half of them with CEL applicability or suitability rules, a customer with
the full feature row, recent contacts, grants and a budget left. Each scenario is timed as the
median over ``--runs`` runs of ``--decisions`` decisions each, after a warm-up; every decision is
checked against an independent computation of the best offer (plain Python over the same rules).

    uv run python bench/bench_policy.py [--runs 7] [--decisions 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
from pathlib import Path

from guardrails.arbitration import decide
from guardrails.decision import Consent, ContactState, Remaining, Request, Scores
from guardrails.policy import Policy, compile_policy
from guardrails.policy.expressions import default_catalogue, neutral_customer

HERE = Path(__file__).parent
TARGET_US = 1000.0
NOW = dt.datetime(2025, 5, 20, 10, tzinfo=dt.UTC)
CHANNELS = ("email", "sms", "app", "mail")


def policy_document(n_offers: int = 20) -> dict:
    offers = []
    for i in range(n_offers):
        offer = {
            "offer_id": f"O{i:02d}",
            "type": "voucher",
            "points_cost": 500 + 250 * (i % 8),
            "value_to_program": 60.0 + 15 * i,
            "cap_per_customer_per_period": 1 + i % 2,
            "channel": CHANNELS[i % len(CHANNELS)],
        }
        if i % 4 == 1:
            offer["suitability"] = 'customer.tier != "basic" && customer.products_registered > 0'
        if i % 4 == 3:
            offer["applicability"] = 'request.channel == "app" && offer.propensity > 0.05'
        offers.append(offer)
    return {
        "format_version": 1,
        "contract_id": "C-BENCH",
        "partner_id": "P1",
        "valid_from": "2024-01-01",
        "valid_to": "2030-01-01",
        "budget": {
            "period": "quarter",
            "points_per_period": 10_000_000,
            "cost_per_point": 0.01,
            "currency": "EUR",
        },
        "offers": offers,
        "eligibility": "customer.tenure_days >= 30 && customer.complaints_90d < 3",
        "contact_policy": {
            "max_contacts": {"count": 2, "window_days": 30},
            "suppress_after_declines": {"declines": 2, "days": 90},
        },
        "consent": {"require_marketing_consent": True, "data_sharing_partners": ["P2"]},
        "risk_routing": {"approve_below": 0.3, "review_below": 0.7},
        "blackouts": [{"from": "2025-12-24", "to": "2025-12-26"}],
        "arbitration": {"churn_weight": 0.5},
    }


def inputs(cp) -> tuple:
    features = {
        **neutral_customer(tuple(default_catalogue()), default_catalogue()),
        "tenure_days": 700.0,
        "tier": "gold",
        "products_registered": 2,
    }
    state = ContactState(
        contacts={"email": [NOW - dt.timedelta(days=d) for d in (2, 9)], "sms": [NOW]},
        declines=[NOW - dt.timedelta(days=120)],
        grants={"O05": 1, "O06": 1},
        consent=Consent(True, frozenset({"P1"})),
    )
    ids = [o.offer.offer_id for o in cp.offers]
    scores = Scores(
        churn=0.42,
        risk=0.12,
        propensity={oid: 0.05 + 0.01 * (i * 7 % 13) for i, oid in enumerate(ids)},
        factors={"churn": [("days_since_last_purchase", 0.11), ("activity_90d", -0.04)]},
    )
    return features, Request(NOW, channel="app"), state, scores, Remaining(contract=1_000_000)


def expected_best(cp, features, request, state, scores, remaining) -> str | None:
    """The best offer by plain Python over this bench's rules (independent of arbitration)."""
    best = None
    for co in cp.offers:
        offer = co.offer
        oid, channel = offer.offer_id, str(offer.channel)
        recent = sum(1 for t in state.contacts.get(channel, []) if NOW - t < dt.timedelta(30))
        if recent >= 2 or state.grants.get(oid, 0) >= offer.cap_per_customer_per_period:
            continue
        if offer.applicability and not (request.channel == "app" and scores.propensity[oid] > 0.05):
            continue
        w = 0.5 + 0.5 * scores.churn
        ev = scores.propensity[oid] * offer.value_to_program * w - offer.points_cost * 0.01
        key = (-ev, offer.points_cost, oid)
        if ev > 0 and (best is None or key < best[0]):
            best = (key, oid)
    return None if best is None else best[1]


def time_scenario(cp, args_, runs: int, decisions: int) -> list[float]:
    for _ in range(200):
        decide(cp, *args_)
    per_run = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(decisions):
            decide(cp, *args_)
        per_run.append((time.perf_counter() - start) / decisions * 1e6)
    return per_run


def scenario_rows(runs: int, decisions: int) -> list[dict]:
    t0 = time.perf_counter()
    cp = compile_policy(Policy.model_validate(policy_document()))
    compile_ms = (time.perf_counter() - t0) * 1000
    features, request, state, scores, remaining = inputs(cp)
    decision = decide(cp, features, request, state, scores, remaining)
    expected = expected_best(cp, features, request, state, scores, remaining)
    assert decision.offer_id == expected and expected is not None, (decision.offer_id, expected)
    forbidden = ContactState(consent=Consent(True, frozenset()))
    assert decide(cp, features, request, forbidden, scores, remaining).offer_id is None
    cases = [
        ("20 offers, 10 with CEL rules: an offer chosen", state),
        ("20 offers: consent forbids data use (early exit)", forbidden),
    ]
    rows = []
    for name, case_state in cases:
        case = (features, request, case_state, scores, remaining)
        times = time_scenario(cp, case, runs, decisions)
        median = statistics.median(times)
        rows.append(
            {
                "scenario": name,
                "offers": len(cp.offers),
                "cel_expressions": 1 + sum(len(o.expressions) for o in cp.offers),
                "runs": runs,
                "decisions_per_run": decisions,
                "median_us": median,
                "runs_us": [round(t, 1) for t in times],
                "compile_ms": compile_ms,
                "target_us": TARGET_US,
                "ok": median <= TARGET_US,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--decisions", type=int, default=2000)
    args = parser.parse_args()
    rows = scenario_rows(args.runs, args.decisions)
    record = {
        "name": "policy",
        "command": f"uv run python bench/bench_policy.py --runs {args.runs} "
        f"--decisions {args.decisions}",
        "results": rows,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "policy.json").write_text(json.dumps(record, indent=2))
    print(json.dumps(rows, indent=2))
    if not all(r["ok"] for r in rows):
        raise SystemExit("policy decision slower than the 1 ms target")


if __name__ == "__main__":
    main()
