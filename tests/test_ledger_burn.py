"""Budget burn per contract scope, read back from the ledger's rows (both backends)."""

from __future__ import annotations

from test_ledger_support import pg_url_fixture, sqlite_url_fixture, url_fixture  # noqa: F401

from guardrails.ledger import ScopeLimits, decision_lines, open_ledger
from guardrails.ledger.burn import ScopeBurn, contract_burn

LIMITS = ScopeLimits(contract=100, partner=1000, customer=20, offer=50)
T0 = 1_750_000_000.0


def _lines(customer: str, amount: int, period: str = "2025Q3"):
    return decision_lines(
        contract_id="C1", partner_id="P1", customer_key=customer, offer_id="O1",
        period=period, amount=amount, limits=LIMITS,
    )  # fmt: skip


def test_burn_counts_reservations_and_points_per_contract_scope_and_status(url: str) -> None:
    with open_ledger(url) as ledger:
        assert contract_burn(ledger.db) == []
        a = ledger.reserve("k1", "d1", "x", _lines("p_a", 10), ttl_s=60, now=T0)
        ledger.reserve("k2", "d2", "x", _lines("p_b", 5), ttl_s=60, now=T0)
        c = ledger.reserve("k3", "d3", "x", _lines("p_c", 7, "2025Q4"), ttl_s=60, now=T0)
        ledger.commit(a.id, now=T0 + 1)
        ledger.release(c.id, "withdrawn", now=T0 + 1)
        burn = sorted(contract_burn(ledger.db), key=lambda b: (b.scope, b.status))
    assert burn == [
        ScopeBurn("contract:C1:2025Q3", "committed", 1, 10),
        ScopeBurn("contract:C1:2025Q3", "held", 1, 5),
        ScopeBurn("contract:C1:2025Q4", "released", 1, 7),
    ]
