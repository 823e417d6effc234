"""Collects generated events as integer-coded columns and turns them into a canonical Arrow table.

Identifiers and labels stay integer codes until the very end, where they become Arrow dictionary
arrays: a million customers' tens of millions of events never exist as Python strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from features.schema import SCHEMA_VERSION, TIER_ORDER, Channel, ConsentScope, EventType, FlagStatus

EVENT_TYPES = tuple(e.value for e in EventType)
CHANNELS = tuple(c.value for c in Channel)
CONSENT_SCOPES = tuple(c.value for c in ConsentScope)
FLAG_STATUSES = tuple(f.value for f in FlagStatus)
REASONS = (
    "do_not_disturb",
    "not_interested",
    "service_quality",
    "billing",
    "waiting_time",
    "abuse_review",
    "review_cleared",
    "abuse_confirmed",
)

# column -> (numpy dtype, null sentinel); codes index the dictionaries passed to to_table()
_CODED = {
    "partner_id": (np.int8, -1),
    "contract_id": (np.int8, -1),
    "channel": (np.int8, -1),
    "offer_id": (np.int16, -1),
    "dealer_id": (np.int16, -1),
    "tier": (np.int8, -1),
    "product_model": (np.int8, -1),
    "consent_scope": (np.int8, -1),
    "flag_status": (np.int8, -1),
    "reason": (np.int8, -1),
}
_PLAIN = {
    "amount": (np.float64, np.nan),
    "points": (np.int64, -1),
    "ref_key": (np.int64, -1),
    "product_year": (np.int16, -1),
    "consent_granted": (np.int8, -1),
}


def code(values: tuple[str, ...], name: str) -> int:
    return values.index(name)


@dataclass
class EventColumns:
    """Append-only batches of events; every batch gives customer positions, days and a type."""

    batches: list[dict[str, np.ndarray]] = field(default_factory=list)
    size: int = 0

    def add(
        self, cust: np.ndarray, day: np.ndarray, event_type: str, **cols: np.ndarray | int
    ) -> np.ndarray:
        """Append a batch; returns its row keys (positions in the concatenation) for references."""
        n = len(cust)
        keys = np.arange(self.size, self.size + n, dtype=np.int64)
        if n == 0:
            return keys
        self.size += n
        batch = {
            "cust": np.asarray(cust, dtype=np.int64),
            "day": np.asarray(day, dtype=np.float64),
            "event_type": np.full(n, code(EVENT_TYPES, event_type), dtype=np.int8),
        }
        for name, value in cols.items():
            dtype, _ = _CODED.get(name) or _PLAIN.get(name) or (np.int64, -1)
            batch[name] = np.broadcast_to(np.asarray(value, dtype=dtype), (n,)).copy()
        self.batches.append(batch)
        return keys

    def concat(self) -> dict[str, np.ndarray]:
        """One array per column, nulls filled with each column's sentinel."""
        names = ["cust", "day", "event_type", *_CODED, *_PLAIN]
        out: dict[str, np.ndarray] = {}
        for name in names:
            dtype, null = _CODED.get(name) or _PLAIN.get(name) or (np.int64, -1)
            parts = [b.get(name) for b in self.batches]
            sizes = [len(b["cust"]) for b in self.batches]
            out[name] = (
                np.concatenate(
                    [
                        p if p is not None else np.full(s, null, dtype=dtype)
                        for p, s in zip(parts, sizes, strict=True)
                    ]
                )
                if parts
                else np.empty(0, dtype=dtype)
            )
        return out


def _dictionary(codes: np.ndarray, values: tuple[str, ...]) -> pa.DictionaryArray:
    mask = codes < 0
    indices = pa.array(np.where(mask, 0, codes).astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(indices, pa.array(values, type=pa.string()))


def _masked(values: np.ndarray, null, arrow_type: pa.DataType) -> pa.Array:
    mask = np.isnan(values) if isinstance(null, float) else values == null
    return pa.array(values, mask=mask, type=arrow_type)


def to_table(
    cols: dict[str, np.ndarray],
    event_id: np.ndarray,
    ref_event_id: np.ndarray,
    customer_id: np.ndarray,
    occurred_us: np.ndarray,
    dictionaries: dict[str, tuple],
) -> pa.Table:
    """The canonical events table (schema v1) from coded columns, already in final row order."""
    n = len(event_id)
    granted = cols["consent_granted"]
    arrays = {
        "event_id": pa.array(event_id, type=pa.int64()),
        "event_type": _dictionary(cols["event_type"], EVENT_TYPES),
        "occurred_at": pa.array(occurred_us, type=pa.timestamp("us", tz="UTC")),
        "customer_id": pa.array(customer_id, type=pa.int64()),
        "partner_id": _dictionary(cols["partner_id"], dictionaries["partner_id"]),
        "contract_id": _dictionary(cols["contract_id"], dictionaries["contract_id"]),
        "channel": _dictionary(cols["channel"], CHANNELS),
        "amount": _masked(np.round(cols["amount"], 2), np.nan, pa.float64()),
        "points": _masked(cols["points"], -1, pa.int64()),
        "offer_id": _dictionary(cols["offer_id"], dictionaries["offer_id"]),
        "ref_event_id": _masked(ref_event_id, -1, pa.int64()),
        "dealer_id": _dictionary(cols["dealer_id"], dictionaries["dealer_id"]),
        "tier": _dictionary(cols["tier"], TIER_ORDER),
        "product_model": _dictionary(cols["product_model"], dictionaries["product_model"]),
        "product_year": _masked(cols["product_year"], -1, pa.int32()),
        "consent_scope": _dictionary(cols["consent_scope"], CONSENT_SCOPES),
        "consent_granted": pa.array(granted == 1, mask=granted < 0, type=pa.bool_()),
        "flag_status": _dictionary(cols["flag_status"], FLAG_STATUSES),
        "reason": _dictionary(cols["reason"], REASONS),
        "schema_version": pa.array(np.full(n, SCHEMA_VERSION, dtype=np.int8)),
    }
    return pa.table(arrays)
