"""The tamper-evident audit trail: one signed record per decision and per later event on it."""

from __future__ import annotations

from guardrails.audit.chain import GENESIS, Head, StoredRow, Verdict, verify_rows
from guardrails.audit.decision_log import DecisionLog
from guardrails.audit.keys import KeyUnavailableError, Pseudonymizer, resolve_key
from guardrails.audit.record import AuditRecord
from guardrails.audit.trail import AuditTrail

__all__ = [
    "GENESIS",
    "AuditRecord",
    "AuditTrail",
    "DecisionLog",
    "Head",
    "KeyUnavailableError",
    "Pseudonymizer",
    "StoredRow",
    "Verdict",
    "resolve_key",
    "verify_rows",
]
