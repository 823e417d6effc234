"""One contract policy file per contract, written beside the simulated log.

The format (version 1) is owned by guardrails.policy and documented in docs/policies.md; the tests
validate every file written here against it and against the customer feature contract.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from simulator.world import World

POLICY_FORMAT_VERSION = 1
# what an accepted offer is worth to the program (retained margin), per money unit of face value
_PROGRAM_VALUE_MULTIPLE = {
    "service_voucher": 10.0,
    "accessory_discount": 8.0,
    "bonus_points": 9.0,
    "upgrade_incentive": 6.0,
}
# who each kind of offer suits (CEL over the customer's features)
_SUITABILITY = {
    "service_voucher": "customer.products_registered > 0",
    "upgrade_incentive": (
        "has(customer.product_age_years) && customer.product_age_years >= 4.0 && "
        'customer.tier != "basic"'
    ),
}


def _offer(row: pd.Series) -> dict:
    face = float(row["value"])
    offer = {
        "offer_id": row["offer_id"],
        "type": row["offer_type"],
        "points_cost": int(row["points_cost"]),
        "value_to_program": round(face * _PROGRAM_VALUE_MULTIPLE.get(row["offer_type"], 5.0), 2),
        "face_value": face,
        "valid_days": int(row["valid_days"]),
        "cap_per_customer_per_period": int(row["cap_per_customer_per_period"]),
        "channel": row["channel"],
    }
    if row["offer_type"] in _SUITABILITY:
        offer["suitability"] = _SUITABILITY[row["offer_type"]]
    return offer


def policy_for(world: World, contract: pd.Series) -> dict:
    """The policy document of one contract (plain data, ready for YAML)."""
    offers = world.offers[world.offers["contract_idx"] == contract["contract_idx"]]
    sharing = [p for p in str(contract["data_sharing_partners"] or "").split(";") if p]
    year = world.cfg.start.year
    points = int(contract["budget_points_per_period"])
    # a customer may take at most the dearest offer's worth a period (every offer stays within
    # reach); the partner's limit is what all of its contracts may spend together (one figure,
    # stated in each of them)
    dearest = int(offers["points_cost"].max()) if len(offers) else points
    siblings = world.contracts[world.contracts["partner_id"] == contract["partner_id"]]
    return {
        "format_version": POLICY_FORMAT_VERSION,
        "contract_id": contract["contract_id"],
        "partner_id": contract["partner_id"],
        "valid_from": contract["starts_at"].date().isoformat(),
        "valid_to": contract["ends_at"].date().isoformat(),
        "budget": {
            "period": contract["budget_period"],
            "points_per_period": points,
            "cost_per_point": float(contract["cost_per_point"]),
            "currency": contract["currency"],
            "money_per_period": round(
                int(contract["budget_points_per_period"]) * float(contract["cost_per_point"]), 2
            ),
            "customer_points_per_period": min(points, dearest),
            "partner_points_per_period": int(siblings["budget_points_per_period"].sum()),
        },
        "offers": [_offer(r) for _, r in offers.iterrows()],
        "eligibility": "customer.tenure_days >= 30",
        "contact_policy": {
            "max_contacts": {"count": 2, "window_days": 30},
            "suppress_after_declines": {"declines": 2, "days": 90},
        },
        "consent": {"require_marketing_consent": True, "data_sharing_partners": sharing},
        "risk_routing": {"approve_below": 0.3, "review_below": 0.7},
        "over_limit": "reject",
        "arbitration": {"churn_weight": 0.5},
        "blackouts": [
            {"from": f"{y}-12-24", "to": f"{y}-12-27", "reason": "holidays"}
            for y in range(year, year + 1 + world.cfg.months // 12)
        ],
    }


def write_policies(world: World, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for _, contract in world.contracts.iterrows():
        path = folder / f"{contract['contract_id']}.yaml"
        path.write_text(yaml.safe_dump(policy_for(world, contract), sort_keys=False))
        paths.append(path)
    return paths
