"""The online intake state in the ledger database: idempotent by event id, read per customer
with one indexed query, shared by every handle (host) on the same database. Each test runs on
SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_ledger_support import (  # noqa: F401
    Raw,
    pg_url_fixture,
    sqlite_url_fixture,
    url_fixture,
)

from guardrails.intake import CustomerState, OnlineState
from guardrails.ledger import open_database
from guardrails.ledger.home import import_legacy_files

T0 = dt.datetime(2025, 9, 1, tzinfo=dt.UTC)


def _event(event_id: str, kind: str, days: float, customer: str = "C1", **extra) -> dict:
    return {
        "event_id": event_id,
        "event_type": kind,
        "occurred_at": (T0 + dt.timedelta(days=days)).isoformat().replace("+00:00", "Z"),
        "customer_id": customer,
        "partner_id": "P1",
        **extra,
    }


EVENTS = [
    _event("e1", "consent_changed", 0, consent_scope="marketing", consent_granted=True),
    _event("e2", "offer_sent", 1, offer_id="A", channel="email"),
    _event("e3", "offer_declined", 2, offer_id="A"),
    _event("e4", "consent_changed", 3, consent_scope="marketing", consent_granted=False),
    _event("e5", "offer_sent", 4, customer="C2", offer_id="B", channel="sms"),
    _event("e6", "offer_sent", 40, offer_id="B", channel="sms"),  # after "now" below
]
NOW = T0 + dt.timedelta(days=10)


@pytest.fixture
def state(url: str) -> Iterator[OnlineState]:
    with open_database(url) as db:
        yield OnlineState(db, clock=lambda: 1_000.0)


def test_events_are_idempotent_by_event_id(state: OnlineState) -> None:
    assert state.apply(EVENTS[:3]) == (3, 0)
    assert state.apply(EVENTS) == (3, 3)
    assert state.apply([EVENTS[0], EVENTS[0]]) == (0, 2)
    assert state.apply([_event("e7", "offer_declined", 5), _event("e7", "offer_declined", 5)]) == (
        1,
        1,
    )
    assert state.apply([]) == (0, 0)


def test_customer_reads_the_window_oldest_first(state: OnlineState) -> None:
    state.apply(EVENTS)
    got = state.customer("C1", NOW)
    day = dt.timedelta(days=1)
    assert got == CustomerState(
        consent={"consent_marketing": 0},  # the later withdrawal wins
        consent_at={"consent_marketing": T0 + 3 * day},  # and its time is what reasons cite
        contacts={"email": [T0 + day]},
        declines=[T0 + 2 * day],
        sends=[("A", T0 + day)],
    )
    assert state.customer("C2", NOW).contacts == {"sms": [T0 + 4 * day]}
    assert state.customer("nobody", NOW) == CustomerState()
    assert state.customer("C1", T0 - day) == CustomerState()  # nothing before it happened


def test_freshness_per_partner_ignores_future_events(state: OnlineState) -> None:
    state.apply(EVENTS)
    assert state.freshness(NOW.timestamp()) == {
        "P1": ((T0 + dt.timedelta(days=4)).timestamp(), 1_000.0)
    }
    assert state.freshness(T0.timestamp() - 1) == {}


def test_an_event_posted_through_one_handle_is_read_through_another(url: str) -> None:
    """Two hosts on one database: a consent withdrawn on A is what B reads next."""
    with open_database(url) as a, open_database(url) as b:
        host_a, host_b = OnlineState(a), OnlineState(b)
        assert host_b.customer("C1", NOW).consent == {}
        host_a.apply(EVENTS[:1])
        assert host_b.customer("C1", NOW).consent == {"consent_marketing": 1}
        host_a.apply(EVENTS[3:4])
        assert host_b.customer("C1", NOW).consent == {"consent_marketing": 0}
        assert host_b.apply(EVENTS[:1]) == (0, 1)  # a retry to the other host is a duplicate


def test_the_decision_lookup_is_one_indexed_query(sqlite_url: str) -> None:
    with open_database(sqlite_url) as db:
        OnlineState(db).apply(EVENTS)
    raw = Raw(sqlite_url)
    plan = raw.all(
        "EXPLAIN QUERY PLAN SELECT event_type, at, offer_id, channel, consent_scope, "
        "consent_granted FROM intake_events WHERE customer_id = ? AND at > ? AND at <= ? "
        "ORDER BY at, event_id",
        ("C1", 0.0, 2e9),
    )
    raw.close()
    assert any("USING INDEX intake_events_customer" in row[-1] for row in plan), plan


def _legacy_state(path: Path, events: list[dict]) -> None:
    """An online_state.db as earlier releases wrote it (their schema, kept verbatim)."""
    from guardrails.intake import _row

    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE events (event_id TEXT PRIMARY KEY, event_type TEXT NOT NULL,"
            " at REAL NOT NULL, received REAL NOT NULL, customer_id TEXT NOT NULL,"
            " partner_id TEXT, contract_id TEXT, offer_id TEXT, channel TEXT, points INTEGER,"
            " consent_scope TEXT, consent_granted INTEGER)"
        )
        db.executemany(
            "INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [_row(e, 5.0)[:12] for e in events],  # no decision_id column then
        )
    db.close()


def test_an_old_homes_online_state_db_is_imported_once(url: str, tmp_path: Path) -> None:
    _legacy_state(tmp_path / "online_state.db", EVENTS)
    with open_database(url) as db:
        lines = import_legacy_files(db, tmp_path)
        assert lines and "6 intake event(s)" in lines[0]
        assert not (tmp_path / "online_state.db").exists()
        assert (tmp_path / "online_state.db.imported").exists()
        state = OnlineState(db)
        assert state.customer("C1", NOW).consent == {"consent_marketing": 0}
        assert state.apply(EVENTS) == (0, 6)  # the imported ids still count as seen
        assert import_legacy_files(db, tmp_path) == []


def test_a_send_naming_its_decision_is_not_counted_again(state: OnlineState) -> None:
    """The service's own grant already counts toward caps and contact limits: its send,
    reported with the decision's id, is not a second contact."""
    own = _event("e7", "offer_sent", 5, offer_id="A", channel="email", decision_id="d-1")
    other = _event("e8", "offer_sent", 6, offer_id="A", channel="email")
    state.apply([own, other])
    got = state.customer("C1", NOW)
    assert got.sends == [("A", T0 + dt.timedelta(days=6))]
    assert got.contacts == {"email": [T0 + dt.timedelta(days=6)]}
