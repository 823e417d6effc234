"""Online state that decisions must not miss between two materialisations: consent changes,
offer sends and declines (contact policy, suppression, caps) and redemptions.

Tables in the ledger database (``intake_events``), so every worker and, on PostgreSQL, every
host sees an event from its next decision on. Events are idempotent by ``event_id``: a repeat
is counted and changes nothing. A decision reads one customer's events with one indexed query.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from features.errors import UnavailableError
from guardrails.ledger.db import Database, Tx
from guardrails.ledger.model import LedgerUnavailableError

LEGACY_FILE_NAME = "online_state.db"  # the host-local file of earlier releases
_LOOKBACK_S = 400 * 86_400.0  # longer than any contact window or budget period
_LEGACY_COLUMNS = (
    "event_id, event_type, at, received, customer_id, partner_id, contract_id, offer_id, "
    "channel, points, consent_scope, consent_granted"
)
_COLUMNS = f"{_LEGACY_COLUMNS}, decision_id"
_CHUNK = 500  # rows per INSERT statement (13 parameters each, well under SQLite's limit)


class StateUnavailableError(UnavailableError):
    """The event state database cannot take the write now (busy past its deadline, or gone)."""


@dataclass
class CustomerState:
    """What the event intake knows about one customer since ``since``."""

    consent: dict[str, int] = field(default_factory=dict)  # feature name -> 0/1
    consent_at: dict[str, dt.datetime] = field(default_factory=dict)  # feature -> event time
    contacts: dict[str, list[dt.datetime]] = field(default_factory=dict)
    declines: list[dt.datetime] = field(default_factory=list)
    sends: list[tuple[str, dt.datetime]] = field(default_factory=list)  # (offer_id, at)


class OnlineState:
    """Read and write the event-driven state in the ledger database (shared, not owned: the
    database is closed by whoever opened it)."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def apply(self, events: Iterable[dict]) -> tuple[int, int]:
        """Store new events at once, in one transaction; returns (accepted, duplicates)."""
        received = self.clock()
        rows = [_row(e, received) for e in events]
        if not rows:
            return 0, 0
        try:
            accepted = self.db.run(lambda tx: insert_events(tx, rows))
        except LedgerUnavailableError as exc:
            raise StateUnavailableError(f"event state: {exc}") from exc
        return accepted, len(rows) - accepted

    def customer(self, customer_id: str, now: dt.datetime) -> CustomerState:
        """The customer's events in the look-back window up to ``now``, oldest first."""
        end = now.timestamp()
        try:
            rows = self.db.query(
                "SELECT event_type, at, offer_id, channel, consent_scope, consent_granted, "
                "decision_id "
                "FROM intake_events WHERE customer_id = ? AND at > ? AND at <= ? "
                "ORDER BY at, event_id",
                (customer_id, end - _LOOKBACK_S, end),
            )
        except LedgerUnavailableError as exc:
            raise StateUnavailableError(f"event state: {exc}") from exc
        state = CustomerState()
        for kind, at, offer_id, channel, scope, granted, decision_id in rows:
            when = dt.datetime.fromtimestamp(at, dt.UTC)
            if kind == "consent_changed" and scope and granted is not None:
                state.consent[f"consent_{scope}"] = int(granted)
                state.consent_at[f"consent_{scope}"] = when
            elif kind == "offer_sent" and decision_id is None:  # a send of one of the
                # service's own decisions counts through that decision's grant, not twice
                state.contacts.setdefault(channel or "unknown", []).append(when)
                state.sends.append((offer_id or "", when))
            elif kind == "offer_declined":
                state.declines.append(when)
        return state

    def consents(self, customer_ids: list[str], now: dt.datetime) -> dict[str, CustomerState]:
        """Only the consent events of several customers up to ``now`` (latest per scope wins),
        one indexed query per 500 customers: what ``/score`` reads before any feature."""
        states: dict[str, CustomerState] = {}
        ids = list(dict.fromkeys(str(c) for c in customer_ids))
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            try:
                rows = self.db.query(
                    "SELECT customer_id, at, consent_scope, consent_granted FROM intake_events "
                    f"WHERE customer_id IN ({marks}) AND at <= ? "
                    "AND event_type = 'consent_changed' ORDER BY at, event_id",
                    (*chunk, now.timestamp()),
                )
            except LedgerUnavailableError as exc:
                raise StateUnavailableError(f"event state: {exc}") from exc
            for cid, at, scope, granted in rows:
                if scope and granted is not None:
                    state = states.setdefault(cid, CustomerState())
                    state.consent[f"consent_{scope}"] = int(granted)
                    state.consent_at[f"consent_{scope}"] = dt.datetime.fromtimestamp(at, dt.UTC)
        return states

    def freshness(self, now: float) -> dict[str, tuple[float, float]]:
        """Per partner: (latest event time not after ``now``, latest receipt time), epoch
        seconds. An event dated in the future does not count as fresh data (it would make the
        lag negative); partners with only future events are left out."""
        try:
            rows = self.db.query(
                "SELECT COALESCE(partner_id, ''), MAX(CASE WHEN at <= ? THEN at END), "
                "MAX(received) FROM intake_events GROUP BY COALESCE(partner_id, '')",
                (now,),
            )
        except LedgerUnavailableError as exc:
            raise StateUnavailableError(f"event state: {exc}") from exc
        return {p: (float(a), float(r)) for p, a, r in rows if a is not None}

    def close(self) -> None:
        """Nothing to release: the database belongs to the stores that opened it."""


def insert_events(tx: Tx, rows: list[tuple]) -> int:
    """Insert event rows, skipping event ids already stored; returns how many were new."""
    accepted = 0
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
        new = tx.all(
            f"INSERT INTO intake_events ({_COLUMNS}) VALUES {values} "
            "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
            [v for row in chunk for v in row],
        )
        accepted += len(new)
    return accepted


def import_legacy_events(db: Database, path: Path) -> int:
    """Copy the events of an earlier release's ``online_state.db`` into the ledger database
    (idempotent by event id); returns how many were new."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as old:
        rows = [(*r, None) for r in old.execute(f"SELECT {_LEGACY_COLUMNS} FROM events")]
    return db.run(lambda tx: insert_events(tx, rows)) if rows else 0


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
        e.get("decision_id"),
    )
