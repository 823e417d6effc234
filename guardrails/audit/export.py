"""Export the audit trail to JSON Lines or Parquet, streaming in batches.

Each exported row is the signed body's fields plus ``chain_hash``; nested fields (scores, model
versions, reasons, reservation ids, details) stay JSON text in Parquet so the table stays flat.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from guardrails.audit.chain import Head, StoredRow

NESTED = ("model_versions", "scores", "reasons", "reservation_ids", "details")
SCALARS = (
    "record_id", "event", "decision_id", "idempotency_key", "at", "caller", "contract_id",
    "policy_version", "feature_contract_version", "input_digest", "customer", "outcome",
)  # fmt: skip
FORMATS = (".jsonl", ".parquet")


def export_rows(rows: Iterable[StoredRow], out: Path, batch: int = 5000) -> tuple[int, Head]:
    """Write ``rows`` to ``out`` (format from the suffix) atomically; returns count and head."""
    out = Path(out)
    if out.suffix not in FORMATS:
        raise ValueError(f"unknown export format {out.suffix!r}: use .jsonl or .parquet")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        writer = _jsonl if out.suffix == ".jsonl" else _parquet
        count, head = writer(rows, tmp, batch)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return count, head


def _jsonl(rows: Iterable[StoredRow], path: Path, batch: int) -> tuple[int, Head]:
    count, head = 0, Head(0, "")
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(json.loads(row.body) | {"chain_hash": row.chain_hash}) + "\n")
            count, head = count + 1, Head(row.seq, row.chain_hash)
    return count, head


def _flat(row: StoredRow) -> dict:
    body = json.loads(row.body)
    flat = {"seq": row.seq, **{k: body.get(k) for k in SCALARS}}
    flat |= {k: json.dumps(body.get(k), sort_keys=True) for k in NESTED}
    return flat | {"chain_hash": row.chain_hash}


def _parquet(rows: Iterable[StoredRow], path: Path, batch: int) -> tuple[int, Head]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = [pa.field("seq", pa.int64())]
    fields += [pa.field(k, pa.string()) for k in (*SCALARS, *NESTED, "chain_hash")]
    schema = pa.schema(fields)
    count, head, pending = 0, Head(0, ""), []
    with pq.ParquetWriter(path, schema) as writer:
        for row in rows:
            pending.append(_flat(row))
            count, head = count + 1, Head(row.seq, row.chain_hash)
            if len(pending) >= batch:
                writer.write_table(pa.Table.from_pylist(pending, schema=schema))
                pending = []
        if pending or count == 0:
            writer.write_table(pa.Table.from_pylist(pending, schema=schema))
    return count, head
