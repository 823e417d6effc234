"""The audit chain, as pure functions: canonical records, keyed chain hashes, verification.

Each record's chain hash is ``HMAC-SHA256(key, previous chain hash + "\\n" + canonical body)``.
Someone who can write the database but lacks the key cannot alter, delete, reorder or re-chain
records without verification noticing; deleting records at the end is caught by comparing the
chain with a head exported earlier.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from guardrails.ledger.schema import GENESIS

__all__ = ["GENESIS", "Head", "StoredRow", "Verdict", "canonical", "chain_hash", "verify_rows"]


def canonical(body: Mapping[str, Any]) -> str:
    """One text per record: sorted keys, no spaces, no NaN (what the HMAC covers)."""
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def chain_hash(key: bytes, previous: str, body: str) -> str:
    return hmac.new(key, f"{previous}\n{body}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Head:
    """The chain's last record: export it, keep it elsewhere, check the trail against it later."""

    seq: int
    chain_hash: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "chain_hash": self.chain_hash}


@dataclass(frozen=True)
class StoredRow:
    """One audit row as stored: the indexed columns and the canonical body they came from."""

    seq: int
    record_id: str
    decision_id: str
    event: str
    at: str
    body: str
    chain_hash: str


@dataclass(frozen=True)
class Verdict:
    ok: bool
    checked: int
    head: Head
    bad_seq: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "head": self.head.to_dict(),
            "bad_seq": self.bad_seq,
            "reason": self.reason,
        }


def _row_problem(key: bytes, row: StoredRow, expected_seq: int, previous: str) -> str | None:
    if row.seq != expected_seq:
        return (
            f"record {expected_seq} is missing (the next stored record is {row.seq}): "
            "deleted or reordered"
        )
    try:
        body = json.loads(row.body)
    except ValueError:
        return "its body is not valid JSON: altered"
    if body.get("seq") != row.seq:
        return f"its body says seq {body.get('seq')} but it is stored at {row.seq}: reordered"
    for column in ("record_id", "decision_id", "event", "at"):
        if body.get(column) != getattr(row, column):
            return f"column {column} differs from the signed body: altered"
    if not hmac.compare_digest(chain_hash(key, previous, row.body), row.chain_hash):
        return (
            "chain hash does not match: the record or one before it was altered or "
            "re-chained, or the key is not the one that signed it"
        )
    return None


def verify_rows(key: bytes, rows: Iterable[StoredRow], expected: Head | None = None) -> Verdict:
    """Walk the chain in seq order; the first bad record and why, or ok.

    ``expected`` is a head exported earlier: the trail must still contain it."""
    previous, seq, at_expected = GENESIS, 0, None
    for row in rows:
        problem = _row_problem(key, row, seq + 1, previous)
        if problem:
            return Verdict(False, seq, Head(seq, previous), seq + 1, problem)
        previous, seq = row.chain_hash, row.seq
        if expected is not None and seq == expected.seq:
            at_expected = row.chain_hash
    head = Head(seq, previous)
    if expected is not None and expected.seq > 0:
        if seq < expected.seq:
            return Verdict(
                False,
                seq,
                head,
                seq + 1,
                f"the trail ends at record {seq} but the exported head is record "
                f"{expected.seq}: records were deleted from the end",
            )
        if at_expected != expected.chain_hash:
            return Verdict(
                False,
                seq,
                head,
                expected.seq,
                "record differs from the exported head: the chain was rewritten",
            )
    return Verdict(True, seq, head)
