"""The policy store: immutable versions keyed by content hash, one active version per contract.

An SQLite file in the data home (``policies.db``). Versions and activations are append-only
(triggers refuse updates and deletes), so the history of what was active when stays auditable;
rollback is a new activation of an older version. Writers take the database lock (BEGIN
IMMEDIATE), so concurrent applies from several processes serialise.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from features.errors import InputError, LoyaltyError
from guardrails.policy.compiled import CompiledPolicy, compile_policy
from guardrails.policy.loading import content_hash
from guardrails.policy.schema import Policy

FILE_NAME = "policies.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS policy_versions (
    version TEXT PRIMARY KEY, contract_id TEXT NOT NULL, seq INTEGER NOT NULL,
    document TEXT NOT NULL, source_text TEXT NOT NULL, source_name TEXT NOT NULL,
    stored_at TEXT NOT NULL, UNIQUE (contract_id, seq));
CREATE TABLE IF NOT EXISTS activations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, contract_id TEXT NOT NULL,
    version TEXT NOT NULL REFERENCES policy_versions (version), previous TEXT,
    action TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS activations_contract ON activations (contract_id, id);
CREATE TRIGGER IF NOT EXISTS versions_no_update BEFORE UPDATE ON policy_versions
    BEGIN SELECT RAISE(ABORT, 'policy versions are immutable'); END;
CREATE TRIGGER IF NOT EXISTS versions_no_delete BEFORE DELETE ON policy_versions
    BEGIN SELECT RAISE(ABORT, 'policy versions are immutable'); END;
CREATE TRIGGER IF NOT EXISTS activations_no_update BEFORE UPDATE ON activations
    BEGIN SELECT RAISE(ABORT, 'the activation history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS activations_no_delete BEFORE DELETE ON activations
    BEGIN SELECT RAISE(ABORT, 'the activation history is append-only'); END;
"""


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
    """One change of the active version: apply or rollback, and what was active before."""

    contract_id: str
    version: str
    previous: str | None
    action: str
    at: str
    changed: bool = True


class PolicyStore:
    """Read and write policy versions in one SQLite file; opens a connection per operation."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _connect(self, write: bool):
        if not write and not self.path.exists():
            yield None
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
                db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise LoyaltyError(f"policy store {self.path}: {exc}") from exc

    def apply(self, policy: Policy, source_text: str, source_name: str) -> Activation:
        """Store the version (once) and make it the contract's active one."""
        version = content_hash(policy)
        with self._connect(write=True) as db:
            if _row(db, version) is None:
                seq = db.execute(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM policy_versions WHERE contract_id = ?",
                    (policy.contract_id,),
                ).fetchone()[0]
                db.execute(
                    "INSERT INTO policy_versions VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (version, policy.contract_id, seq, json.dumps(policy.document()),
                     source_text, source_name, _now()),
                )  # fmt: skip
            return _activate(db, policy.contract_id, version, "apply")

    def rollback(self, contract_id: str, to: str | None = None) -> Activation:
        """Activate ``to`` (a version or unique prefix), else the version stored before the
        active one."""
        with self._connect(write=True) as db:
            current = _active_version(db, contract_id)
            if current is None:
                raise InputError(f"contract {contract_id!r} has no active policy to roll back")
            if to is None:
                target = _previous(db, contract_id, current)
            else:
                target = _resolve(db, to)
                if target.contract_id != contract_id:
                    raise InputError(
                        f"version {target.version} belongs to {target.contract_id}, "
                        f"not {contract_id}"
                    )
            return _activate(db, contract_id, target.version, "rollback")

    def active(self, contract_id: str) -> StoredVersion | None:
        with self._connect(write=False) as db:
            if db is None:
                return None
            version = _active_version(db, contract_id)
            return None if version is None else _row(db, version)

    def active_all(self) -> dict[str, StoredVersion]:
        """Every contract's active version: what the decision service loads."""
        with self._connect(write=False) as db:
            if db is None:
                return {}
            contracts = [r[0] for r in db.execute("SELECT DISTINCT contract_id FROM activations")]
            found = {c: _row(db, _active_version(db, c)) for c in sorted(contracts)}
            return {c: v for c, v in found.items() if v is not None}

    def get(self, ref: str) -> StoredVersion:
        """A version by its hash or a unique prefix of at least 4 characters."""
        with self._connect(write=False) as db:
            if db is None:
                raise InputError(f"no policy version {ref!r}: the store {self.path} is empty")
            return _resolve(db, ref)

    def versions(self, contract_id: str | None = None) -> list[tuple[StoredVersion, bool]]:
        """(version, is active) per stored version, by contract then order of storing."""
        with self._connect(write=False) as db:
            if db is None:
                return []
            sql = "SELECT version FROM policy_versions"
            args: tuple = ()
            if contract_id is not None:
                sql, args = sql + " WHERE contract_id = ?", (contract_id,)
            rows = [_row(db, r[0]) for r in db.execute(sql + " ORDER BY contract_id, seq", args)]
            active = {r.contract_id: _active_version(db, r.contract_id) for r in rows if r}
            return [(r, active[r.contract_id] == r.version) for r in rows if r is not None]

    def history(self, contract_id: str) -> list[Activation]:
        with self._connect(write=False) as db:
            if db is None:
                return []
            rows = db.execute(
                "SELECT contract_id, version, previous, action, at FROM activations "
                "WHERE contract_id = ? ORDER BY id",
                (contract_id,),
            ).fetchall()
            return [Activation(*row) for row in rows]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _row(db: sqlite3.Connection, version: str | None) -> StoredVersion | None:
    if version is None:
        return None
    row = db.execute(
        "SELECT version, contract_id, seq, document, source_text, source_name, stored_at "
        "FROM policy_versions WHERE version = ?",
        (version,),
    ).fetchone()
    if row is None:
        return None
    return StoredVersion(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6])


def _active_version(db: sqlite3.Connection, contract_id: str) -> str | None:
    row = db.execute(
        "SELECT version FROM activations WHERE contract_id = ? ORDER BY id DESC LIMIT 1",
        (contract_id,),
    ).fetchone()
    return None if row is None else row[0]


def _activate(db: sqlite3.Connection, contract_id: str, version: str, action: str) -> Activation:
    previous = _active_version(db, contract_id)
    if previous == version:
        return Activation(contract_id, version, previous, action, _now(), changed=False)
    at = _now()
    db.execute(
        "INSERT INTO activations (contract_id, version, previous, action, at) VALUES (?,?,?,?,?)",
        (contract_id, version, previous, action, at),
    )
    return Activation(contract_id, version, previous, action, at)


def _previous(db: sqlite3.Connection, contract_id: str, current: str) -> StoredVersion:
    seq = db.execute("SELECT seq FROM policy_versions WHERE version = ?", (current,)).fetchone()[0]
    row = db.execute(
        "SELECT version FROM policy_versions WHERE contract_id = ? AND seq < ? "
        "ORDER BY seq DESC LIMIT 1",
        (contract_id, seq),
    ).fetchone()
    if row is None:
        raise InputError(f"contract {contract_id!r}: no version older than the active {current}")
    return _existing(db, row[0])


def _resolve(db: sqlite3.Connection, ref: str) -> StoredVersion:
    if len(ref) < 4:
        raise InputError(f"version {ref!r} is too short: give at least 4 characters of the hash")
    rows = db.execute(
        "SELECT version FROM policy_versions WHERE version LIKE ? ORDER BY version",
        (ref.replace("%", "").replace("_", "") + "%",),
    ).fetchall()
    if not rows:
        raise InputError(f"no stored policy version matches {ref!r} (see `loyalty policy list`)")
    if len(rows) > 1:
        raise InputError(f"version {ref!r} is ambiguous: {', '.join(r[0] for r in rows)}")
    return _existing(db, rows[0][0])


def _existing(db: sqlite3.Connection, version: str) -> StoredVersion:
    found = _row(db, version)
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
