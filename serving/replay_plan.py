"""The replay plan: which stretch of an event log becomes which calls of the orchestrator
(``loyalty replay`` builds it, ``serving.replay_client`` plays it).

The mapping (documented in the README):

* decision points are the customer's touchpoints with a partner: ``purchase`` and
  ``service_visit`` events that carry a ``contract_id``. Each becomes one ``/decide`` call for
  that customer under that contract, with the event's channel, partner, type and time, and the
  idempotency key ``replay-<event_id>`` (the same on every run, so a rerun replays recorded
  decisions instead of reserving again);
* ``consent_changed``, ``offer_sent``, ``offer_declined``, ``offer_redeemed`` and
  ``points_redeemed`` events of the stretch are forwarded to ``/events``;
* the partner's answer to an approved offer is read from the whole log: the customer redeemed
  that offer (``offer_redeemed``, same offer id) within the redeem window after the decision.

The stretch is ``[since, until)``; ``until`` defaults to just after the last event and
``since`` to ``until - last``; ``limit`` keeps the first N decision points and ends the
stretch at the last of them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.io import load_events
from serving.replay_client import DecisionPoint, Slice

DECISION_EVENTS = ("purchase", "service_visit")
FORWARDED = ("consent_changed", "offer_sent", "offer_declined", "offer_redeemed", "points_redeemed")
CHANNELS = frozenset(
    {"dealer", "service_center", "web", "app", "email", "sms", "mail", "call_center", "system"}
)
EVENT_FIELDS = ("partner_id", "contract_id", "offer_id", "channel", "consent_scope")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:@-]")


@dataclass(frozen=True)
class Stretch:
    since: pd.Timestamp | None = None
    until: pd.Timestamp | None = None
    last: pd.Timedelta | None = None  # default 7 days
    limit: int | None = None


@dataclass(frozen=True)
class Plan:
    slices: list[Slice]
    since: pd.Timestamp
    until: pd.Timestamp
    decisions: int
    events: int


def load_log(path: Path) -> pd.DataFrame:
    """The validated event log (an InputError that names the problems when it is invalid)."""
    return load_events(path)


def build_plan(log: pd.DataFrame, stretch: Stretch, slice_size: int) -> Plan:
    """Cut the stretch into slices of ``slice_size`` decision points, in time order."""
    until = stretch.until or log["occurred_at"].max() + pd.Timedelta(microseconds=1)
    since = stretch.since or until - (stretch.last or pd.Timedelta(days=7))
    window = log[(log["occurred_at"] >= since) & (log["occurred_at"] < until)]
    window = window.sort_values(["occurred_at", "event_id"], kind="stable")
    kinds = window["event_type"].astype(str)
    points = window[kinds.isin(DECISION_EVENTS) & window["contract_id"].notna()]
    if stretch.limit is not None:
        points = points.head(stretch.limit)
        if len(points):
            until = points["occurred_at"].iloc[-1] + pd.Timedelta(microseconds=1)
    forwarded = window[kinds.isin(FORWARDED) & (window["occurred_at"] < until)]
    redeemed = _redemptions(log, set(points["customer_id"]))
    decisions = [_point(row, redeemed) for row in points.itertuples(index=False)]
    events = [_event(row) for row in forwarded.itertuples(index=False)]
    return Plan(_slices(decisions, events, slice_size), since, until, len(decisions), len(events))


def _slices(decisions: list[DecisionPoint], events: list[dict], size: int) -> list[Slice]:
    """Each slice carries the events up to its last decision's time (the rest ride last)."""
    out, sent = [], 0
    for i in range(0, len(decisions), size):
        chunk = decisions[i : i + size]
        end = chunk[-1].at
        upto = sent
        while upto < len(events) and _at(events[upto]) <= end:
            upto += 1
        out.append(Slice(events[sent:upto], chunk))
        sent = upto
    if sent < len(events):
        out.append(Slice(events[sent:], []))
    return out


def _at(event: dict) -> float:
    return dt.datetime.fromisoformat(event["occurred_at"]).timestamp()


def _redemptions(log: pd.DataFrame, customers: set) -> dict:
    """Per customer, the (offer id, epoch seconds) of every offer redemption in the log."""
    rows = log[
        (log["event_type"].astype(str) == "offer_redeemed") & log["customer_id"].isin(customers)
    ]
    out: dict = {}
    for cid, offer, at in zip(
        rows["customer_id"], rows["offer_id"], rows["occurred_at"], strict=True
    ):
        out.setdefault(cid, set()).add((str(offer), at.timestamp()))
    return out


def idempotency_key(event_id) -> str:
    """``replay-<event_id>`` with characters outside the key alphabet replaced."""
    return "replay-" + _UNSAFE.sub("_", str(event_id))[:120]


def _iso(at: pd.Timestamp) -> str:
    return at.tz_convert(dt.UTC).isoformat() if at.tzinfo else at.tz_localize(dt.UTC).isoformat()


def _point(row, redeemed: dict) -> DecisionPoint:
    channel = str(row.channel) if pd.notna(row.channel) else None
    body = {
        "idempotency_key": idempotency_key(row.event_id),
        "customer_id": str(row.customer_id),
        "contract_id": str(row.contract_id),
        "channel": channel if channel in CHANNELS else None,
        "partner_id": str(row.partner_id) if pd.notna(row.partner_id) else None,
        "event": str(row.event_type),
        "time": _iso(row.occurred_at),
    }
    return DecisionPoint(body, frozenset(redeemed.get(row.customer_id, ())))


def _event(row) -> dict:
    """A canonical event as the intake takes it (empty fields left out)."""
    out: dict[str, str | int | bool] = {
        "event_id": str(row.event_id),
        "event_type": str(row.event_type),
        "occurred_at": _iso(row.occurred_at),
        "customer_id": str(row.customer_id),
    }
    for name in EVENT_FIELDS:
        value = getattr(row, name)
        if pd.notna(value):
            out[name] = str(value)
    if pd.notna(row.points):
        out["points"] = int(row.points)
    if row.consent_granted is not None and pd.notna(row.consent_granted):
        out["consent_granted"] = bool(row.consent_granted)
    return out
