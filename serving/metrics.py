"""Prometheus metrics of the decision service: latency, outcomes by reason, budget burn per
contract, model versions served, data freshness per partner.

Uses BentoML's own prometheus client registry, so ``/metrics`` shows these beside its own.
Label values come from bounded sets only: a partner label is a partner the active policies
name, ``none`` for events without one, and ``unknown`` for anything else a caller sent (free
text from ``/events`` never becomes a series of its own).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from typing import Any

from serving.inputs import event_time

UNKNOWN, NO_PARTNER = "unknown", "none"


def partner_label(partner: str | None, known: frozenset[str]) -> str:
    """The label value of a partner id: itself when known, else one shared value."""
    if not partner:
        return NO_PARTNER
    return partner if partner in known else UNKNOWN


class Metrics:
    """Created once per worker; every metric is registered lazily on first use."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        def made(kind, name, doc, labels=(), **kw):
            try:
                return kind(name, doc, labels, **kw)
            except ValueError:  # registered already in this process (tests build many cores)
                from prometheus_client import REGISTRY

                return REGISTRY._names_to_collectors[name]

        buckets = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
        self.latency = made(
            Histogram,
            "loyalty_decision_seconds",
            "Decision latency",
            ("endpoint",),
            buckets=buckets,
        )
        self.outcomes = made(
            Counter,
            "loyalty_decisions_total",
            "Decisions by status and reason",
            ("status", "reason"),
        )
        self.points = made(
            Counter, "loyalty_points_reserved_total", "Points reserved per contract", ("contract",)
        )
        self.model = made(
            Gauge, "loyalty_model_version", "Model versions served", ("kind", "alias", "name")
        )
        self.snapshot_age = made(
            Gauge, "loyalty_feature_snapshot_age_seconds", "Age of the materialized snapshot"
        )
        self.intake_lag = made(
            Gauge,
            "loyalty_event_intake_lag_seconds",
            "Now minus latest event, per partner",
            ("partner",),
        )
        self.future_events = made(
            Counter,
            "loyalty_events_future_dated_total",
            "Events received dated after their receipt, per partner (left out of the lag)",
            ("partner",),
        )

    def models(self, models: Any) -> None:
        for kind, m in models.champions.items():
            self.model.labels(kind, "champion", m.name).set(m.version)
        for kind, m in models.challengers.items():
            self.model.labels(kind, "challenger", m.name).set(m.version)

    def decision(self, status: str, reason: str, contract: str, points: int) -> None:
        self.outcomes.labels(status, reason).inc()
        if points:
            self.points.labels(contract).inc(points)

    def freshness(
        self,
        now: float,
        snapshot_as_of: float | None,
        partners: Mapping[str, tuple[float, float]],
        known: frozenset[str],
    ) -> None:
        """Snapshot age and, per partner label, now minus its latest event not in the future
        (never negative: future-dated events are counted by ``future_events`` instead)."""
        if snapshot_as_of is not None:
            self.snapshot_age.set(max(0.0, now - snapshot_as_of))
        lags: dict[str, float] = {}
        for partner, (latest, _received) in partners.items():
            label = partner_label(partner, known)
            lag = max(0.0, now - latest)
            lags[label] = min(lag, lags.get(label, lag))
        for label, lag in lags.items():
            self.intake_lag.labels(label).set(lag)

    def intake(self, events: Iterable[Mapping[str, Any]], now: float, known: frozenset[str]):
        """Count the events dated after ``now`` (their receipt), per partner label."""
        ahead: Tally[str] = Tally()
        for e in events:
            if event_time(e["occurred_at"]).timestamp() > now:
                ahead[partner_label(e.get("partner_id"), known)] += 1
        for label, n in ahead.items():
            self.future_events.labels(label).inc(n)
