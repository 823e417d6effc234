"""Prometheus metrics of the decision service: latency, outcomes by reason, budget burn per
contract, model versions served, data freshness per partner.

Uses BentoML's own prometheus client registry, so ``/metrics`` shows these beside its own.
"""

from __future__ import annotations

from typing import Any


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

    def models(self, models: Any) -> None:
        for kind, m in models.champions.items():
            self.model.labels(kind, "champion", m.name).set(m.version)
        for kind, m in models.challengers.items():
            self.model.labels(kind, "challenger", m.name).set(m.version)

    def decision(self, status: str, reason: str, contract: str, points: int) -> None:
        self.outcomes.labels(status, reason).inc()
        if points:
            self.points.labels(contract).inc(points)

    def freshness(self, now: float, snapshot_as_of: float | None, partners: dict) -> None:
        if snapshot_as_of is not None:
            self.snapshot_age.set(now - snapshot_as_of)
        for partner, (latest, _received) in partners.items():
            self.intake_lag.labels(partner or "none").set(now - latest)
