"""The simulator writes policies in the guardrails format that validate, also against the
customer feature contract, and that grant offers to customers worth keeping."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd

from features.contract import contract_for
from features.definitions import FEATURE_NAMES
from guardrails.arbitration import decide
from guardrails.decision import Consent, ContactState, Request, Scores
from guardrails.policy import validate_file
from guardrails.policy.expressions import catalogue_from_contract, neutral_customer


def test_every_simulated_policy_validates(sim_dir: Path, tmp_path: Path) -> None:
    contract = contract_for(list(FEATURE_NAMES))
    path = tmp_path / "feature_contract.json"
    path.write_text(json.dumps(contract.to_dict()))
    files = sorted((sim_dir / "policies").glob("*.yaml"))
    contracts = pd.read_parquet(sim_dir / "reference" / "contracts.parquet")
    assert [p.stem for p in files] == sorted(contracts["contract_id"])
    for file in files:
        for result in (validate_file(file), validate_file(file, path)):
            assert result.ok, [str(i) for i in result.issues]


def test_a_simulated_policy_offers_something_to_an_at_risk_customer(sim_dir: Path) -> None:
    cp = validate_file(sim_dir / "policies" / "C-P01.yaml").raise_for_issues()
    catalogue = catalogue_from_contract(contract_for(list(FEATURE_NAMES)).to_dict())
    features = {
        **neutral_customer(tuple(FEATURE_NAMES), catalogue),
        "tenure_days": 800.0,
        "tier": "gold",
        "products_registered": 1,
        "product_age_years": 6.0,
    }
    when = dt.datetime.combine(cp.policy.valid_from, dt.time(12), dt.UTC) + dt.timedelta(days=400)
    scores = Scores(0.6, 0.05, {o.offer.offer_id: 0.3 for o in cp.offers})
    state = ContactState(consent=Consent(True, frozenset({"P01"})))
    decision = decide(cp, features, Request(when), state, scores)
    assert decision.offer_id is not None and decision.expected_value > 0
    low = decide(
        cp,
        features,
        Request(when),
        state,
        Scores(0.01, 0.05, {o.offer.offer_id: 0.02 for o in cp.offers}),
    )
    assert low.offer_id is None


def test_a_small_ecosystem_writes_valid_policies_too(tmp_path: Path) -> None:
    """Budgets scale with the customers; the dearest offer must still fit a small contract's."""
    from simulator.config import make_config
    from simulator.policies import write_policies
    from simulator.world import build_world

    files = write_policies(build_world(make_config(500, seed=3)), tmp_path)
    assert len(files) >= 4
    for file in files:
        result = validate_file(file)
        assert result.ok, [str(i) for i in result.issues]
