"""The audit trail: signed, pseudonymized, and tamper-evident against a database writer."""

from __future__ import annotations

import hashlib
import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from test_ledger_support import Raw, pg_url_fixture, sqlite_url_fixture, url_fixture  # noqa: F401

from guardrails.audit import (
    AuditRecord,
    Head,
    KeyUnavailableError,
    Pseudonymizer,
    resolve_key,
)
from guardrails.audit.export import export_rows
from guardrails.ledger.stores import open_stores

KEY, PSEUDO = b"k" * 32, b"p" * 32


def record(i: int, **extra) -> AuditRecord:
    return AuditRecord(
        decision_id=f"dec-{i}", outcome="approve" if i % 2 else "reject",
        idempotency_key=f"idem-{i}", at=datetime(2025, 7, 1, 12, i, tzinfo=UTC),
        caller="orchestrator", contract_id="C-1", policy_version="7",
        model_versions={"churn": "3", "risk": "5"}, feature_contract_version="v1-abc",
        input_digest=f"sha256:{i}", customer_id=f"CUST-{i:04d}",
        scores={"churn": 0.25, "risk": 0.1 * i}, reasons=[{"code": "tenure", "value": 0.3}],
        reservation_ids=[f"r{i}"], **extra,
    )  # fmt: skip


def filled(url: str, n: int = 5):
    stores = open_stores(url, audit_key=KEY, pseudonym_key=PSEUDO)
    for i in range(1, n + 1):
        stores.audit.append(record(i))
    return stores


def test_records_chain_and_verify(url: str) -> None:
    stores = open_stores(url, audit_key=KEY, pseudonym_key=PSEUDO)
    empty = stores.audit.verify()
    assert empty.ok and empty.checked == 0  # an empty trail verifies
    for i in range(1, 4):
        stores.audit.append(record(i))
    verdict = stores.audit.verify()
    assert verdict.ok and verdict.checked == 3 and verdict.head == stores.audit.head()
    (row,) = stores.audit.for_decision("dec-2")
    body = json.loads(row.body)
    assert body["seq"] == 2 and body["model_versions"] == {"churn": "3", "risk": "5"}
    assert body["customer"] == Pseudonymizer(PSEUDO).customer("CUST-0002")
    assert body["at"] == "2025-07-01T12:02:00.000000+00:00"
    stores.close()


def test_raw_customer_ids_never_reach_the_database(sqlite_url: str) -> None:
    filled(sqlite_url, 3).close()
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    wal = db.with_name(db.name + "-wal")
    data = db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert b"CUST-000" not in data and b"p_" in data
    p = Pseudonymizer(PSEUDO)
    assert p.customer("A") == p.customer("A") != Pseudonymizer(KEY).customer("A")


def _attack(raw: Raw, how: str) -> None:
    """What someone with write access to the database (but not the key) might do."""
    rows = raw.all("SELECT seq, body, chain_hash FROM audit_records ORDER BY seq")
    if how == "delete":
        raw.execute("DELETE FROM audit_records WHERE seq = 3")
    elif how == "alter":
        body = rows[2][1].replace('"outcome":"approve"', '"outcome":"reject"')
        assert body != rows[2][1]
        raw.execute("UPDATE audit_records SET body = ? WHERE seq = 3", (body,))
    elif how == "alter_column":
        raw.execute("UPDATE audit_records SET decision_id = 'dec-99' WHERE seq = 3")
    elif how == "reorder":
        raw.execute("UPDATE audit_records SET seq = -1 WHERE seq = 2")
        raw.execute("UPDATE audit_records SET seq = 2 WHERE seq = 3")
        raw.execute("UPDATE audit_records SET seq = 3 WHERE seq = -1")
    elif how in ("rechain", "reorder_rechain"):
        _rechain(raw, [json.loads(b) for _, b, _ in rows], swap=how == "reorder_rechain")


def _rechain(raw: Raw, bodies: list[dict], swap: bool) -> None:
    """Rewrite the trail and recompute every chain hash with plain SHA-256 (no key)."""
    if swap:
        bodies[1], bodies[2] = bodies[2], bodies[1]
        bodies[1]["seq"], bodies[2]["seq"] = 2, 3
    else:
        bodies[2]["outcome"] = "reject"
    raw.execute("DELETE FROM audit_records")
    previous = "0" * 64
    for seq, body in enumerate(bodies, start=1):
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(f"{previous}\n{text}".encode()).hexdigest()
        raw.execute(
            "INSERT INTO audit_records (seq, record_id, decision_id, event, at, body, "
            "chain_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (seq, body["record_id"], body["decision_id"], body["event"], body["at"], text, digest),
        )
        previous = digest
    raw.execute("UPDATE audit_head SET chain_hash = ? WHERE id = 1", (previous,))


@pytest.mark.parametrize(
    ("how", "bad", "why"),
    [
        ("delete", 3, "missing"),
        ("alter", 3, "chain hash does not match"),
        ("alter_column", 3, "column decision_id"),
        ("reorder", 2, "reordered"),
        ("rechain", 1, "chain hash does not match"),
        ("reorder_rechain", 1, "chain hash does not match"),
    ],
)
def test_tampering_is_found(url: str, how: str, bad: int, why: str) -> None:
    stores = filled(url)
    assert stores.audit.verify().ok
    raw = Raw(url)
    _attack(raw, how)
    raw.close()
    verdict = stores.audit.verify()
    stores.close()
    assert not verdict.ok and verdict.bad_seq == bad and why in verdict.reason


def test_truncation_is_found_with_an_exported_head(url: str) -> None:
    stores = filled(url)
    head = stores.audit.head()
    assert head.seq == 5
    raw = Raw(url)
    raw.execute("DELETE FROM audit_records WHERE seq >= 4")
    assert not stores.audit.verify().ok  # the head row still says 5 records were written
    raw.execute("UPDATE audit_head SET seq = 3, chain_hash = (SELECT chain_hash FROM "
                "audit_records WHERE seq = 3) WHERE id = 1")  # fmt: skip
    raw.close()
    assert stores.audit.verify().ok  # a careful attacker fixed the head row too...
    verdict = stores.audit.verify(head)  # ...but the head kept outside the database disagrees
    assert not verdict.ok and "deleted from the end" in verdict.reason
    assert not stores.audit.verify(Head(5, "f" * 64)).ok
    stores.close()


def test_another_key_does_not_verify(sqlite_url: str) -> None:
    filled(sqlite_url, 2).close()
    other = open_stores(sqlite_url, audit_key=b"z" * 32, pseudonym_key=PSEUDO)
    verdict = other.audit.verify()
    other.close()
    assert not verdict.ok and verdict.bad_seq == 1 and "key" in verdict.reason


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_export(sqlite_url: str, tmp_path, suffix: str) -> None:
    import pandas as pd

    stores = filled(sqlite_url, 4)
    out = tmp_path / f"audit{suffix}"
    count, head = export_rows(stores.audit.rows(batch=3), out)
    assert count == 4 and head == stores.audit.head()
    if suffix == ".jsonl":
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["seq"] for r in rows] == [1, 2, 3, 4]
        assert rows[0]["scores"] == {"churn": 0.25, "risk": 0.1}
    else:
        frame = pd.read_parquet(out)
        assert list(frame["seq"]) == [1, 2, 3, 4]
        assert json.loads(frame["model_versions"][0]) == {"churn": "3", "risk": "5"}
    if suffix == ".jsonl":
        hashes = [json.loads(x)["chain_hash"] for x in out.read_text().splitlines()]
    else:
        hashes = list(frame["chain_hash"])
    assert hashes == [r.chain_hash for r in stores.audit.rows()]
    with pytest.raises(ValueError, match="format"):
        export_rows(stores.audit.rows(), tmp_path / "audit.csv")
    stores.close()


def test_key_files_are_private_and_made_only_when_asked(tmp_path) -> None:
    path = tmp_path / "keys" / "audit.key"
    assert resolve_key(None, path, create=False) is None and not path.exists()
    key = resolve_key(None, path, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(key) == 64
    assert resolve_key(None, path, create=True) == key
    assert resolve_key("from-settings", path, create=False) == b"from-settings"
    path.chmod(0o644)
    with pytest.raises(KeyUnavailableError, match="chmod 600"):
        resolve_key(None, path, create=False)
