"""What one audit record says about a decision (or a later event on it: review, cancel)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class AuditRecord:
    """Everything needed to reconstruct a decision. ``customer_id`` is the raw id: the trail
    stores only its keyed pseudonym."""

    decision_id: str
    outcome: str
    event: str = "decision"
    idempotency_key: str | None = None
    at: datetime | None = None
    caller: str | None = None
    contract_id: str | None = None
    policy_version: str | None = None
    model_versions: Mapping[str, str] = field(default_factory=dict)
    feature_contract_version: str | None = None
    input_digest: str | None = None
    customer_id: str | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
    reasons: Sequence[Any] = ()
    reservation_ids: Sequence[str] = ()
    details: Mapping[str, Any] = field(default_factory=dict)


def iso_utc(ts: datetime) -> str:
    """Microsecond ISO-8601 in UTC: one spelling per instant, so the signed text is stable."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def body_of(record: AuditRecord, seq: int, record_id: str, customer: str | None, now: datetime):
    """The plain dict the chain signs (the raw customer id never appears in it)."""
    return {
        "seq": seq,
        "record_id": record_id,
        "event": record.event,
        "decision_id": record.decision_id,
        "idempotency_key": record.idempotency_key,
        "at": iso_utc(record.at or now),
        "caller": record.caller,
        "contract_id": record.contract_id,
        "policy_version": record.policy_version,
        "model_versions": dict(record.model_versions),
        "feature_contract_version": record.feature_contract_version,
        "input_digest": record.input_digest,
        "customer": customer,
        "scores": {k: float(v) for k, v in record.scores.items()},
        "reasons": list(record.reasons),
        "outcome": record.outcome,
        "reservation_ids": list(record.reservation_ids),
        "details": dict(record.details),
    }
