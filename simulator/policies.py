"""One contract policy file per contract, written beside the simulated log.

This is the first version of the policy format; the guardrails layer owns the format (and its
validation) and keeps the simulator's output in step with it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from simulator.world import World

POLICY_FORMAT_VERSION = 1


def _offer(row: pd.Series) -> dict:
    return {
        "offer_id": row["offer_id"],
        "type": row["offer_type"],
        "points_cost": int(row["points_cost"]),
        "value": float(row["value"]),
        "valid_days": int(row["valid_days"]),
        "cap_per_customer_per_period": int(row["cap_per_customer_per_period"]),
        "channel": row["channel"],
    }


def policy_for(world: World, contract: pd.Series) -> dict:
    """The policy document of one contract (plain data, ready for YAML)."""
    offers = world.offers[world.offers["contract_idx"] == contract["contract_idx"]]
    sharing = [p for p in str(contract["data_sharing_partners"] or "").split(";") if p]
    year = world.cfg.start.year
    return {
        "format_version": POLICY_FORMAT_VERSION,
        "contract_id": contract["contract_id"],
        "partner_id": contract["partner_id"],
        "valid_from": contract["starts_at"].date().isoformat(),
        "valid_to": contract["ends_at"].date().isoformat(),
        "budget": {
            "period": contract["budget_period"],
            "points_per_period": int(contract["budget_points_per_period"]),
            "cost_per_point": float(contract["cost_per_point"]),
            "currency": contract["currency"],
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
