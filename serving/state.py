"""Online state that decisions must not miss between two materialisations: consent changes,
offer sends and declines (contact policy, suppression, caps) and redemptions.

An SQLite file in the data home (WAL, so every service worker sees an event from its next
request on). Events are idempotent by ``event_id``: a repeat is counted and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from guardrails.errors import UnavailableError

FILE_NAME = "online_state.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
  event_id TEXT PRIMARY KEY, event_type TEXT NOT NULL, at REAL NOT NULL, received REAL NOT NULL,
  customer_id TEXT NOT NULL, partner_id TEXT, contract_id TEXT, offer_id TEXT, channel TEXT,
  points INTEGER, consent_scope TEXT, consent_granted INTEGER);
CREATE INDEX IF NOT EXISTS events_customer ON events (customer_id, at);
"""
_LOOKBACK_S = 400 * 86_400.0  # longer than any contact window or budget period


class StateUnavailableError(UnavailableError):
    """The event state database cannot take the write now (locked past its timeout)."""


@dataclass
class CustomerState:
    """What the event intake knows about one customer since ``since``."""

    consent: dict[str, int] = field(default_factory=dict)  # feature name -> 0/1
    contacts: dict[str, list[dt.datetime]] = field(default_factory=dict)
    declines: list[dt.datetime] = field(default_factory=list)
    sends: list[tuple[str, dt.datetime]] = field(default_factory=list)  # (offer_id, at)


class OnlineState:
    """Read and write the event-driven state; one connection per thread."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def apply(self, events: Iterable[dict]) -> tuple[int, int]:
        """Store new events at once; returns (accepted, duplicates)."""
        now = self.clock()
        rows = [_row(e, now) for e in events]
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:  # locked past the timeout, disk gone
            raise StateUnavailableError(f"event state at {self.path}: {exc}") from exc
        try:
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            accepted = db.total_changes - before
            db.execute("COMMIT")
        except BaseException as exc:
            db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):
                raise StateUnavailableError(f"event state at {self.path}: {exc}") from exc
            raise
        return accepted, len(rows) - accepted

    def customer(self, customer_id: str, now: dt.datetime) -> CustomerState:
        """The customer's events in the look-back window up to ``now``, oldest first."""
        end = now.timestamp()
        rows = self._db().execute(
            "SELECT event_type, at, offer_id, channel, consent_scope, consent_granted "
            "FROM events WHERE customer_id = ? AND at > ? AND at <= ? ORDER BY at, event_id",
            (customer_id, end - _LOOKBACK_S, end),
        )
        state = CustomerState()
        for kind, at, offer_id, channel, scope, granted in rows:
            when = dt.datetime.fromtimestamp(at, dt.UTC)
            if kind == "consent_changed" and scope and granted is not None:
                state.consent[f"consent_{scope}"] = int(granted)
            elif kind == "offer_sent":
                state.contacts.setdefault(channel or "unknown", []).append(when)
                state.sends.append((offer_id or "", when))
            elif kind == "offer_declined":
                state.declines.append(when)
        return state

    def freshness(self, now: float) -> dict[str, tuple[float, float]]:
        """Per partner: (latest event time not after ``now``, latest receipt time), epoch
        seconds. An event dated in the future does not count as fresh data (it would make the
        lag negative); partners with only future events are left out."""
        rows = self._db().execute(
            "SELECT COALESCE(partner_id, ''), MAX(CASE WHEN at <= ? THEN at END), MAX(received) "
            "FROM events GROUP BY COALESCE(partner_id, '')",
            (now,),
        )
        return {p: (float(a), float(r)) for p, a, r in rows if a is not None}

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def _row(e: dict, received: float) -> tuple:
    at = e["occurred_at"]
    if isinstance(at, str):
        at = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    granted = e.get("consent_granted")
    return (
        str(e["event_id"]),
        e["event_type"],
        at.timestamp(),
        received,
        str(e["customer_id"]),
        e.get("partner_id"),
        e.get("contract_id"),
        e.get("offer_id"),
        e.get("channel"),
        e.get("points"),
        e.get("consent_scope"),
        None if granted is None else int(bool(granted)),
    )
