"""Decisions recorded once per idempotency key, on both ledger backends: workers racing the same
new key (each with its own connection, as separate service workers have) all answer with the
decision recorded first, and the trail holds exactly one decision record for it."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from test_ledger_support import pg_url_fixture, sqlite_url_fixture, url_fixture  # noqa: F401

from guardrails.decision import Scores

RACERS = 6


def _response(decision_id: str, racer: int) -> dict:
    """A no-offer answer (nothing reserved: the ledger's key does not serialize it)."""
    return {
        "decision_id": decision_id,
        "idempotency_key": "race-key-0001",
        "contract_id": "C-P01",
        "partner_id": "P01",
        "status": "no_offer",
        "offer_id": None,
        "reservation_id": None,
        "reasons": [{"code": "no_positive_value"}],
        "versions": {
            "policy": "v1",
            "models": {"churn": "loyalty-churn/1"},
            "shadow_models": {},
            "feature_contract": "1",
        },
        "decided_at": f"racer-{racer}",
    }


def test_racing_workers_record_one_decision_per_key(url):
    from guardrails.ledger.stores import open_stores
    from serving.operations import decision_id_for
    from serving.records import record_decision

    decision_id = decision_id_for("race-key-0001")
    req = SimpleNamespace(idempotency_key="race-key-0001", customer_id="1")
    scores = Scores(churn=0.5, risk=0.01, propensity={})
    stores = [open_stores(url, audit_key=b"a" * 32, pseudonym_key=b"p" * 32) for _ in range(RACERS)]
    barrier = threading.Barrier(RACERS)
    answers: dict[int, object] = {}

    def racer(i: int) -> None:
        core = SimpleNamespace(stores=stores[i], clock=time.time)
        barrier.wait()
        answers[i] = record_decision(
            core, req, _response(decision_id, i), "digest-1", None, scores, {}
        )

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(RACERS)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(answers) == RACERS
        winners = [i for i, a in answers.items() if a is None]
        assert len(winners) == 1, answers
        for body in answers.values():
            if body is not None:  # every loser got the winner's recorded answer
                assert body["details"]["response"]["decided_at"] == f"racer-{winners[0]}"
        trail = stores[0].audit
        assert [r.event for r in trail.for_decision(decision_id)] == ["decision"]
        assert trail.verify().ok
        rows = stores[0].ledger.db.run(
            lambda tx: tx.all("SELECT decision_id FROM decisions"), write=False
        )
        assert [r[0] for r in rows] == [decision_id]
    finally:
        for s in stores:
            s.close()


def test_a_recorded_key_answers_later_writers_even_with_another_payload(url):
    """The loser learns of the first record; the service turns another digest into a 409."""
    from guardrails.ledger.stores import open_stores
    from serving.operations import decision_id_for
    from serving.records import record_decision

    decision_id = decision_id_for("race-key-0001")
    req = SimpleNamespace(idempotency_key="race-key-0001", customer_id="1")
    scores = Scores(churn=0.5, risk=0.01, propensity={})
    with open_stores(url, audit_key=b"a" * 32, pseudonym_key=b"p" * 32) as stores:
        core = SimpleNamespace(stores=stores, clock=time.time)
        assert (
            record_decision(core, req, _response(decision_id, 0), "digest-1", None, scores, {})
            is None
        )
        first = record_decision(core, req, _response(decision_id, 1), "digest-2", None, scores, {})
        assert first is not None and first["input_digest"] == "digest-1"
        assert stores.audit.count() == 1
