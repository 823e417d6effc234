"""The human review queue: holds budget for its own TTL; approve commits, reject and expiry
release; every resolution is audited in the same transaction."""

from __future__ import annotations

import json

import pytest
from test_ledger_support import (  # noqa: F401
    Raw,
    invariant_problems,
    pg_url_fixture,
    sqlite_url_fixture,
    url_fixture,
)

from guardrails.ledger import ScopeLimits, Status, decision_lines
from guardrails.ledger.stores import open_stores
from guardrails.review import ReviewError, ReviewExpiredError

T0 = 1_750_000_000.0
LIMITS = ScopeLimits(contract=100, partner=None, customer=30, offer=60)


def _stores(url: str):
    return open_stores(url, audit_key=b"a" * 32, pseudonym_key=b"p" * 32)


def _routed(stores, n: int, ttl_s: float = 3600):
    """A decision routed to review: a short hold, then the review extends it."""
    lines = decision_lines(contract_id="C1", partner_id="P1", customer_key="p_x", offer_id="O1",
                           period="2025Q3", amount=10, limits=LIMITS)  # fmt: skip
    r = stores.ledger.reserve(f"k{n}", f"d{n}", "x", lines, ttl_s=30, now=T0)
    summary = {"contract_id": "C1", "offer_id": "O1", "points": 10, "customer": "p_x"}
    return r, stores.reviews.submit(f"d{n}", r.id, ttl_s=ttl_s, reason="risk 0.55",
                                    summary=summary, now=T0)  # fmt: skip


def test_review_holds_the_budget_for_its_own_ttl(url: str) -> None:
    with _stores(url) as stores:
        r, review = _routed(stores, 1, ttl_s=3600)
        assert stores.ledger.get(r.id).expires_at == review.expires_at == T0 + 3600
        assert stores.ledger.expire(now=T0 + 60) == 0  # the hold's own 30 s no longer apply
        again = stores.reviews.submit("d1", r.id, ttl_s=5, reason="retry", summary={}, now=T0)
        assert again.id == review.id  # a retried submit returns the queued review
        assert [x.id for x in stores.reviews.list()] == [review.id]
        with pytest.raises(ValueError, match="pseudonym"):
            stores.reviews.submit("d9", None, ttl_s=5, reason="r", summary={"customer_id": "C"})


def test_approve_commits_and_is_audited(url: str) -> None:
    with _stores(url) as stores:
        r, review = _routed(stores, 1)
        done = stores.reviews.approve(review.id, "alice", "known customer", now=T0 + 10)
        assert done.status == "approved" and done.resolved_by == "alice"
        assert stores.ledger.get(r.id).status is Status.COMMITTED
        assert stores.reviews.approve(review.id, "alice", now=T0 + 11).status == "approved"
        with pytest.raises(ReviewError, match="already approved"):
            stores.reviews.reject(review.id, "bob", now=T0 + 12)
        assert stores.reviews.list() == []
        (row,) = stores.audit.for_decision("d1")
        body = json.loads(row.body)
        assert body["event"] == "review.approved" and body["caller"] == "alice"
        assert body["reservation_ids"] == [r.id] and body["details"]["note"] == "known customer"
        assert stores.audit.verify().ok


def test_reject_releases(url: str) -> None:
    with _stores(url) as stores:
        r, review = _routed(stores, 1)
        assert stores.reviews.reject(review.id, "bob", now=T0 + 5).status == "rejected"
        assert stores.ledger.get(r.id).status is Status.RELEASED
        assert all(b.reserved == 0 and b.committed == 0 for b in stores.ledger.balances())
        with pytest.raises(ReviewError, match="no review"):
            stores.reviews.approve("missing", "bob")


def test_expired_review_releases_the_budget(url: str) -> None:
    with _stores(url) as stores:
        r1, late = _routed(stores, 1, ttl_s=100)
        r2, swept = _routed(stores, 2, ttl_s=100)
        r3, kept = _routed(stores, 3, ttl_s=1000)
        with pytest.raises(ReviewExpiredError, match="budget was released"):
            stores.reviews.approve(late.id, "alice", now=T0 + 100)
        assert stores.ledger.get(r1.id).status is Status.EXPIRED
        assert stores.reviews.expire(now=T0 + 200) == 1
        assert stores.reviews.get(swept.id).status == "expired"
        assert stores.ledger.get(r2.id).status is Status.EXPIRED
        assert stores.ledger.get(r3.id).status is Status.HELD
        assert [x.id for x in stores.reviews.list()] == [kept.id]
        events = [json.loads(row.body)["event"] for row in stores.audit.rows()]
        assert events == ["review.expired", "review.expired"]
        assert stores.ledger.reconcile() == []
    raw = Raw(url)
    assert invariant_problems(raw) == []
    raw.close()


def test_review_whose_hold_the_ledger_swept_cannot_be_approved(url: str) -> None:
    with _stores(url) as stores:
        _, review = _routed(stores, 1, ttl_s=100)
        assert stores.ledger.expire(now=T0 + 150) == 1  # the service's sweep ran first
        with pytest.raises(ReviewExpiredError):
            stores.reviews.approve(review.id, "alice", now=T0 + 150)
        assert stores.reviews.get(review.id).status == "expired"
