"""The books of a contract period, checked from the outside after a load: every live grant
(held or committed reservation) is matched to the request that made it, and counted per
customer the way a contract manager would: grants of an offer per period against its cap,
contacts per channel in every rolling window against the contact limit, and the period of
every reservation against the service's clock. The ledger's count scopes are not read: the
answer comes from the reservations, the requests and the policy terms alone."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from tests.reliability.reliability_support import CLOCK, Plan, decision_id_for


def _period(when: dt.datetime, kind: str) -> str:
    if kind == "month":
        return f"{when.year:04d}-{when.month:02d}"
    if kind == "quarter":
        return f"{when.year:04d}Q{(when.month - 1) // 3 + 1}"
    return f"{when.year:04d}"


def _terms(url: str) -> dict[str, Any]:
    """Contract id -> its active policy (read through the policy store of that database)."""
    from guardrails.ledger import open_database
    from guardrails.policy.store import PolicyStore

    with open_database(url) as db:
        return {cid: stored.policy for cid, stored in PolicyStore(db).active_all().items()}


def live_grants(url: str, plan: Plan) -> list[dict[str, Any]]:
    """Held or committed reservations, each with its request's customer, contract and time and
    the offer of its offer line."""
    from test_ledger_support import Raw

    by_decision = {decision_id_for(k): plan.bodies[k] for k in plan.keys}
    db = Raw(url)
    try:
        rows = db.all(
            "SELECT r.decision_id, l.scope FROM reservations r JOIN reservation_lines l "
            "ON l.reservation_id = r.id WHERE r.status IN ('held', 'committed') "
            "AND substr(l.scope, 1, 6) = 'offer:'",
            (),
        )
    finally:
        db.close()
    grants = []
    for decision_id, scope in rows:
        body = by_decision[decision_id]
        _, offer, period = scope.split(":")
        when = dt.datetime.fromisoformat(body["time"].replace("Z", "+00:00"))
        grants.append(
            {
                "customer": body["customer_id"],
                "contract": body["contract_id"],
                "offer": offer,
                "period": period,
                "at": when,
            }
        )
    return grants


def books_problems(url: str, plan: Plan) -> list[str]:
    """Customers over a cap or a contact limit, and reservations outside the current period."""
    terms = _terms(url)
    grants = live_grants(url, plan)
    found: list[str] = []
    per_cap: dict[tuple, int] = defaultdict(int)
    contacts: dict[tuple, list[dt.datetime]] = defaultdict(list)
    for g in grants:
        policy = terms[g["contract"]]
        offer = policy.offer(g["offer"])
        current = _period(CLOCK, policy.budget.period)
        if g["period"] != current or _period(g["at"], policy.budget.period) != current:
            found.append(f"{g['customer']}: {g['offer']} reserved in {g['period']}, not {current}")
        per_cap[(g["customer"], g["contract"], g["offer"], g["period"])] += 1
        contacts[(g["customer"], g["contract"], str(offer.channel))].append(g["at"])
    for (customer, contract, offer_id, period), n in per_cap.items():
        cap = terms[contract].offer(offer_id).cap_per_customer_per_period
        if n > cap:
            found.append(
                f"customer {customer}: {n} live grants of {offer_id} in {period}, cap {cap}"
            )
    for (customer, contract, channel), times in contacts.items():
        cp = terms[contract].contact_policy
        window = cp.per_channel.get(channel, cp.max_contacts)
        span = dt.timedelta(days=window.window_days)
        times.sort()
        for t in times:
            n = sum(1 for u in times if t - span < u <= t)
            if n > window.count:
                found.append(
                    f"customer {customer}: {n} contacts by {channel} in the {window.window_days} "
                    f"days to {t.isoformat()}, limit {window.count}"
                )
                break
    return found


def nothing_for(url: str, keys: set[str]) -> list[str]:
    """Keys refused for their period must leave no decision record and no reservation."""
    from test_ledger_support import Raw

    ids = sorted(decision_id_for(k) for k in keys)
    if not ids:
        return []
    db = Raw(url)
    try:
        marks = ",".join("?" * len(ids))
        records = db.all(
            f"SELECT decision_id FROM audit_records WHERE decision_id IN ({marks})", ids
        )
        holds = db.all(f"SELECT decision_id FROM reservations WHERE decision_id IN ({marks})", ids)
    finally:
        db.close()
    return [f"{d}: a record of a refused request" for (d,) in records] + [
        f"{d}: a reservation of a refused request" for (d,) in holds
    ]
