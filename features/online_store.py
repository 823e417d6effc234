"""The online feature store: the latest materialised features, one row per customer.

Embedded by default: an SQLite file in the data home, replaced atomically by each
materialisation (written beside it, then renamed). With ``LOYALTY_FEATURE_STORE_URL=redis://...``
(several service hosts) the snapshot goes to Redis instead (``features.online_store_redis``).
Either way a reader sees the old snapshot or the new one, never a mix, and values keep their
contract types on the way back: what the service reads equals what the dataset builder computed
for the same T. The tables live here, beside the features they hold; the service only opens the
store its settings name (``serving.feature_store``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.consent import CONSENT_FIELDS, consent_frame
from features.contract import FeatureContract
from features.errors import UnavailableError

FILE_NAME = "online_features.db"
BATCH = 50_000
_MAX_PARAMS = 900  # SQLite's bound-parameter limit, with room to spare


class FeatureStoreUnavailableError(UnavailableError, RuntimeError):
    """The configured store cannot answer (Redis down, snapshot gone)."""


def write_snapshot(
    path: Path, frame: pd.DataFrame, contract: FeatureContract, as_of: pd.Timestamp
) -> int:
    """Replace the store at ``path`` with ``frame`` (customer_id + the contract's features);
    written beside it first, so a reader never sees half a snapshot."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        with sqlite3.connect(tmp) as db:
            _create_tables(db, contract)
            _insert_rows(db, frame, contract)
            _insert_consent(db, consent_frame(frame), contract)
            meta = {
                "as_of": as_of.isoformat(),
                "contract": json.dumps(contract.to_dict()),
                "rows": str(len(frame)),
            }
            db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(frame)


def _create_tables(db: sqlite3.Connection, contract: FeatureContract) -> None:
    cols = ", ".join(_column_sql(spec) for spec in contract.features)
    db.execute(f"CREATE TABLE features (customer_key TEXT PRIMARY KEY, {cols})")
    consent = ", ".join(_column_sql(s) for s in contract.features if s["name"] in CONSENT_FIELDS)
    db.execute(f"CREATE TABLE consent (customer_key TEXT PRIMARY KEY, {consent})")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")


def _insert_consent(db: sqlite3.Connection, frame: pd.DataFrame, contract: FeatureContract):
    """Every customer's consent record, features kept or not: the service reads it first."""
    specs = [s for s in contract.features if s["name"] in CONSENT_FIELDS]
    columns = [plain_values(frame[s["name"]], s) for s in specs]
    marks = ", ".join("?" * (len(specs) + 1))
    rows = zip(frame["customer_id"].astype(str).to_numpy(), *columns, strict=True)
    db.executemany(f"INSERT INTO consent VALUES ({marks})", rows)


def _column_sql(spec: dict) -> str:
    kind = {"category": "TEXT", "int": "INTEGER", "float": "REAL"}[spec["dtype"]]
    return f'"{spec["name"]}" {kind}'


def _insert_rows(db: sqlite3.Connection, frame: pd.DataFrame, contract: FeatureContract) -> None:
    marks = ", ".join("?" * (len(contract.names) + 1))
    keys = frame["customer_id"].astype(str).to_numpy()
    values = [
        plain_values(frame[n], spec)
        for n, spec in zip(contract.names, contract.features, strict=True)
    ]
    for start in range(0, len(frame), BATCH):
        rows = zip(
            keys[start : start + BATCH],
            *(v[start : start + BATCH] for v in values),
            strict=True,
        )
        db.executemany(f"INSERT INTO features VALUES ({marks})", rows)


def plain_values(column: pd.Series, spec: dict) -> list:
    """A feature column as plain Python values (str, int, float or None for a missing float),
    the form both stores keep."""
    if spec["dtype"] == "category":
        return column.astype(str).tolist()
    if spec["dtype"] == "int":
        return column.astype(np.int64).tolist()
    values = column.astype(np.float64)
    return [None if np.isnan(v) else v for v in values.tolist()]


def typed_frame(contract: FeatureContract, frame: pd.DataFrame) -> pd.DataFrame:
    """Stored values back in their contract dtypes (category, int64, float64)."""
    for spec in contract.features:
        name = spec["name"]
        if spec["dtype"] == "category":
            frame[name] = frame[name].astype("category")
        elif spec["dtype"] == "int":
            frame[name] = frame[name].astype(np.int64)
        else:
            frame[name] = pd.to_numeric(frame[name]).astype(np.float64)
    return frame


class FeatureStore:
    """Read access to a materialised snapshot (the embedded SQLite file)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(
                f"no online feature store at {self.path}: run `loyalty features materialize`"
            )
        with self._connect() as db:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        self.as_of = pd.Timestamp(meta["as_of"])
        self.contract = FeatureContract.from_dict(json.loads(meta["contract"]))
        self.rows = int(meta["rows"])
        self.where = str(self.path)
        self.token = self.path.stat().st_mtime
        self._local = threading.local()
        names = ", ".join(f'"{n}"' for n in self.contract.names)
        self._select = f"SELECT customer_key, {names} FROM features WHERE customer_key IN "
        self._consent_fields = [n for n in self.contract.names if n in CONSENT_FIELDS]
        fields = ", ".join(f'"{n}"' for n in self._consent_fields)
        with self._connect() as db:  # a snapshot of an earlier release keeps consent in features
            kept = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'consent'").fetchone()
        table = "consent" if kept else "features"
        self._select_consent = f"SELECT customer_key, {fields} FROM {table} WHERE customer_key IN "

    def _connect(self, *, shared: bool = False) -> sqlite3.Connection:
        uri = f"file:{self.path}?mode=ro"
        return sqlite3.connect(uri, uri=True, check_same_thread=not shared)

    def current_token(self) -> Any:
        """What changes when a new snapshot replaces this one (the file's mtime)."""
        return self.path.stat().st_mtime if self.path.exists() else None

    def lookup(self, customer_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Plain typed rows (category: str, int: int, float: float or None) by customer key;
        one read-only connection per thread, kept on this snapshot's file."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect(shared=True)
        names = self.contract.names
        return {
            row[0]: dict(zip(names, row[1:], strict=True))
            for row in self._select_rows(db, [str(c) for c in customer_ids])
        }

    def consent(self, customer_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Only the consent record (``features.consent.CONSENT_FIELDS``) of each customer in the
        store: what is read before any feature, to know whether features may be read at all."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect(shared=True)
        fields = self._consent_fields
        rows = self._select_rows(db, [str(c) for c in customer_ids], self._select_consent)
        return {row[0]: dict(zip(fields, row[1:], strict=True)) for row in rows}

    def read(self, customer_ids: Iterable[str]) -> pd.DataFrame:
        """Features of the given customers (those not in the store are left out)."""
        with self._connect() as db:
            found = self._select_rows(db, [str(c) for c in customer_ids])
        frame = pd.DataFrame(found, columns=["customer_key", *self.contract.names])
        return typed_frame(self.contract, frame)

    def _select_rows(
        self, db: sqlite3.Connection, keys: list[str], select: str | None = None
    ) -> list[tuple]:
        found: list[tuple] = []
        for start in range(0, len(keys), _MAX_PARAMS):
            chunk = keys[start : start + _MAX_PARAMS]
            sql = (select or self._select) + "(" + ", ".join("?" * len(chunk)) + ")"
            found += db.execute(sql, chunk).fetchall()
        return found
