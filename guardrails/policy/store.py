"""The policy store: immutable versions keyed by content hash, one active version per contract.

Tables in the ledger database (``policy_versions``, ``policy_activations``), so a policy applied
from one host is active on every host sharing that database (each service's refresh poll
recompiles the active versions). Versions are immutable and activations append-only (triggers
refuse updates and deletes on both backends), so the history of what was active when stays
auditable; rollback is a new activation of an older version. Writers serialise per contract
(SQLite's writer lock; a PostgreSQL advisory lock), so concurrent applies from several
processes or hosts keep one order.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from features.errors import InputError, LoyaltyError
from guardrails.ledger.db import Database, Tx
from guardrails.policy.compiled import CompiledPolicy, compile_policy
from guardrails.policy.loading import content_hash
from guardrails.policy.schema import Policy

T = TypeVar("T")
LEGACY_FILE_NAME = "policies.db"  # the host-local file of earlier releases
_VERSION_COLUMNS = "version, contract_id, seq, document, source_text, source_name, stored_at"
_INSERT_VERSION = f"INSERT INTO policy_versions ({_VERSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"


@dataclass(frozen=True)
class StoredVersion:
    """One immutable policy version as stored."""

    version: str
    contract_id: str
    seq: int
    document: dict
    source_text: str
    source_name: str
    stored_at: str

    @property
    def policy(self) -> Policy:
        return Policy.model_validate(self.document)


@dataclass(frozen=True)
class Activation:
    """One change of the active version: apply or rollback, what was active before, and who
    made it (the operator identity; None for activations recorded before it was kept)."""

    contract_id: str
    version: str
    previous: str | None
    action: str
    at: str
    changed: bool = True
    by: str | None = None


class PolicyStore:
    """Read and write policy versions in the ledger database (shared, not owned: the database
    is closed by whoever opened it)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _write(self, contract_id: str, fn: Callable[[Tx], T]) -> T:
        def unit(tx: Tx) -> T:
            if self.db.dialect == "postgresql":  # one writer per contract across hosts
                tx.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (f"policy:{contract_id}",))
            return fn(tx)

        return self.db.run(unit)

    def _read(self, fn: Callable[[Tx], T]) -> T:
        return self.db.run(fn, write=False)

    def apply(
        self, policy: Policy, source_text: str, source_name: str, by: str | None = None
    ) -> Activation:
        """Store the version (once) and make it the contract's active one, as ``by``."""
        version = content_hash(policy)

        def unit(tx: Tx) -> Activation:
            if _row(tx, version) is None:
                seq = _next_seq(tx, policy.contract_id)
                tx.execute(
                    _INSERT_VERSION,
                    (version, policy.contract_id, seq, json.dumps(policy.document()),
                     source_text, source_name, _now()),
                )  # fmt: skip
            return _activate(tx, policy.contract_id, version, "apply", by)

        return self._write(policy.contract_id, unit)

    def rollback(
        self, contract_id: str, to: str | None = None, by: str | None = None
    ) -> Activation:
        """Activate ``to`` (a version or unique prefix), else the version stored before the
        active one, as ``by``."""

        def unit(tx: Tx) -> Activation:
            current = _active_version(tx, contract_id)
            if current is None:
                raise InputError(f"contract {contract_id!r} has no active policy to roll back")
            if to is None:
                target = _previous(tx, contract_id, current)
            else:
                target = _resolve(tx, to)
                if target.contract_id != contract_id:
                    raise InputError(
                        f"version {target.version} belongs to {target.contract_id}, "
                        f"not {contract_id}"
                    )
            return _activate(tx, contract_id, target.version, "rollback", by)

        return self._write(contract_id, unit)

    def active(self, contract_id: str) -> StoredVersion | None:
        return self._read(lambda tx: _row(tx, _active_version(tx, contract_id)))

    def active_all(self) -> dict[str, StoredVersion]:
        """Every contract's active version, in one query: what the decision service loads (and
        reloads on each refresh poll)."""
        rows = self._read(
            lambda tx: tx.all(
                f"SELECT {_VERSION_COLUMNS} FROM policy_versions WHERE version IN ("
                "  SELECT a.version FROM policy_activations a WHERE a.id IN ("
                "    SELECT MAX(id) FROM policy_activations GROUP BY contract_id)) "
                "ORDER BY contract_id"
            )
        )
        return {r[1]: _stored(r) for r in rows}

    def get(self, ref: str) -> StoredVersion:
        """A version by its hash or a unique prefix of at least 4 characters."""
        return self._read(lambda tx: _resolve(tx, ref))

    def versions(self, contract_id: str | None = None) -> list[tuple[StoredVersion, bool]]:
        """(version, is active) per stored version, by contract then order of storing."""

        def unit(tx: Tx) -> list[tuple[StoredVersion, bool]]:
            sql = f"SELECT {_VERSION_COLUMNS} FROM policy_versions"
            args: tuple = ()
            if contract_id is not None:
                sql, args = sql + " WHERE contract_id = ?", (contract_id,)
            rows = [_stored(r) for r in tx.all(sql + " ORDER BY contract_id, seq", args)]
            active = {r.contract_id: _active_version(tx, r.contract_id) for r in rows}
            return [(r, active[r.contract_id] == r.version) for r in rows]

        return self._read(unit)

    def history(self, contract_id: str) -> list[Activation]:
        rows = self._read(
            lambda tx: tx.all(
                "SELECT contract_id, version, previous, action, at, activated_by "
                "FROM policy_activations WHERE contract_id = ? ORDER BY id",
                (contract_id,),
            )
        )
        return [Activation(c, v, p, a, at, by=who) for c, v, p, a, at, who in rows]


def import_legacy_policies(db: Database, path: Path) -> tuple[int, int]:
    """Copy an earlier release's ``policies.db`` into the ledger database, in one transaction:
    versions not stored yet (numbered after the ones there), and a contract's activation
    history when the ledger database has none for it yet (it wins otherwise). Idempotent;
    returns (versions, activations) copied."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as old:
        versions = old.execute(
            f"SELECT {_VERSION_COLUMNS} FROM policy_versions ORDER BY contract_id, seq"
        ).fetchall()
        activations = old.execute(
            "SELECT contract_id, version, previous, action, at FROM activations ORDER BY id"
        ).fetchall()

    def unit(tx: Tx) -> tuple[int, int]:
        if db.dialect == "postgresql":
            tx.execute("SELECT pg_advisory_xact_lock(hashtext('policy:import'))")
        copied = 0
        for version, contract_id, _seq, *rest in versions:
            if _row(tx, version) is None:
                tx.execute(
                    _INSERT_VERSION,
                    (version, contract_id, _next_seq(tx, contract_id), *rest),
                )
                copied += 1
        fresh = {a[0] for a in activations if _active_version(tx, a[0]) is None}
        rows = [a for a in activations if a[0] in fresh]
        tx.executemany(
            "INSERT INTO policy_activations (contract_id, version, previous, action, at) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        return copied, len(rows)

    return db.run(unit)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _row(tx: Tx, version: str | None) -> StoredVersion | None:
    if version is None:
        return None
    row = tx.one(f"SELECT {_VERSION_COLUMNS} FROM policy_versions WHERE version = ?", (version,))
    return None if row is None else _stored(row)


def _stored(row: tuple) -> StoredVersion:
    return StoredVersion(row[0], row[1], int(row[2]), json.loads(row[3]), *row[4:7])


def _next_seq(tx: Tx, contract_id: str) -> int:
    row = tx.one(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM policy_versions WHERE contract_id = ?",
        (contract_id,),
    )
    return int(row[0]) if row else 1


def _active_version(tx: Tx, contract_id: str) -> str | None:
    row = tx.one(
        "SELECT version FROM policy_activations WHERE contract_id = ? ORDER BY id DESC LIMIT 1",
        (contract_id,),
    )
    return None if row is None else row[0]


def _activate(tx: Tx, contract_id: str, version: str, action: str, by: str | None) -> Activation:
    previous = _active_version(tx, contract_id)
    if previous == version:
        return Activation(contract_id, version, previous, action, _now(), changed=False)
    at = _now()
    tx.execute(
        "INSERT INTO policy_activations (contract_id, version, previous, action, at, "
        "activated_by) VALUES (?, ?, ?, ?, ?, ?)",
        (contract_id, version, previous, action, at, by),
    )
    return Activation(contract_id, version, previous, action, at, by=by)


def _previous(tx: Tx, contract_id: str, current: str) -> StoredVersion:
    seq = _existing(tx, current).seq
    row = tx.one(
        "SELECT version FROM policy_versions WHERE contract_id = ? AND seq < ? "
        "ORDER BY seq DESC LIMIT 1",
        (contract_id, seq),
    )
    if row is None:
        raise InputError(f"contract {contract_id!r}: no version older than the active {current}")
    return _existing(tx, row[0])


def _resolve(tx: Tx, ref: str) -> StoredVersion:
    if len(ref) < 4:
        raise InputError(f"version {ref!r} is too short: give at least 4 characters of the hash")
    rows = tx.all(
        "SELECT version FROM policy_versions WHERE version LIKE ? ORDER BY version",
        (ref.replace("%", "").replace("_", "") + "%",),
    )
    if not rows:
        raise InputError(f"no stored policy version matches {ref!r} (see `loyalty policy list`)")
    if len(rows) > 1:
        raise InputError(f"version {ref!r} is ambiguous: {', '.join(r[0] for r in rows)}")
    return _existing(tx, rows[0][0])


def _existing(tx: Tx, version: str) -> StoredVersion:
    found = _row(tx, version)
    if found is None:  # pragma: no cover - the version was read in the same transaction
        raise LoyaltyError(f"policy store: version {version} vanished")
    return found


def compile_active(
    store: PolicyStore, catalogue: Mapping[str, dict] | None = None
) -> dict[str, CompiledPolicy]:
    """Every contract's active policy, compiled once: what the decision service holds in memory
    (recompile when ``active_all()`` reports another version)."""
    return {
        contract_id: compile_policy(stored.policy, catalogue, f"{contract_id}@{stored.version}")
        for contract_id, stored in store.active_all().items()
    }
