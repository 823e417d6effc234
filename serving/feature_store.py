"""The embedded online feature store: the latest materialised features, one row per customer.

An SQLite file in the data home, replaced atomically by each materialisation (written beside it,
then renamed), so a reader sees either the old snapshot or the new one, never a mix. Values keep
their contract types on the way back: what the service reads equals what the dataset builder
computed for the same T.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import FeatureContract

FILE_NAME = "online_features.db"
_BATCH = 50_000


def _column_sql(spec: dict) -> str:
    kind = {"category": "TEXT", "int": "INTEGER", "float": "REAL"}[spec["dtype"]]
    return f'"{spec["name"]}" {kind}'


def write_snapshot(
    path: Path, frame: pd.DataFrame, contract: FeatureContract, as_of: pd.Timestamp
) -> int:
    """Replace the store at ``path`` with ``frame`` (customer_id + the contract's features)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    names = contract.names
    try:
        with sqlite3.connect(tmp) as db:
            cols = ", ".join(_column_sql(spec) for spec in contract.features)
            db.execute(f"CREATE TABLE features (customer_key TEXT PRIMARY KEY, {cols})")
            db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
            marks = ", ".join("?" * (len(names) + 1))
            keys = frame["customer_id"].astype(str).to_numpy()
            values = [
                _sql_values(frame[n], spec)
                for n, spec in zip(names, contract.features, strict=True)
            ]
            for start in range(0, len(frame), _BATCH):
                rows = zip(
                    keys[start : start + _BATCH],
                    *(v[start : start + _BATCH] for v in values),
                    strict=True,
                )
                db.executemany(f"INSERT INTO features VALUES ({marks})", rows)
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


def _sql_values(column: pd.Series, spec: dict) -> list:
    if spec["dtype"] == "category":
        return column.astype(str).tolist()
    if spec["dtype"] == "int":
        return column.astype(np.int64).tolist()
    values = column.astype(np.float64)
    return [None if np.isnan(v) else v for v in values.tolist()]


class FeatureStore:
    """Read access to a materialised snapshot."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(
                f"no online feature store at {self.path}: run `loyalty features materialize`"
            )
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True) as db:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        self.as_of = pd.Timestamp(meta["as_of"])
        self.contract = FeatureContract.from_dict(json.loads(meta["contract"]))
        self.rows = int(meta["rows"])

    def read(self, customer_ids) -> pd.DataFrame:
        """Features of the given customers (those not in the store are left out)."""
        keys = [str(c) for c in customer_ids]
        names = ", ".join(f'"{n}"' for n in self.contract.names)
        found = []
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True) as db:
            for start in range(0, len(keys), 900):  # SQLite's bound-parameter limit
                chunk = keys[start : start + 900]
                marks = ", ".join("?" * len(chunk))
                found += db.execute(
                    f"SELECT customer_key, {names} FROM features WHERE customer_key IN ({marks})",
                    chunk,
                ).fetchall()
        frame = pd.DataFrame(found, columns=["customer_key", *self.contract.names])
        return self._typed(frame)

    def _typed(self, frame: pd.DataFrame) -> pd.DataFrame:
        for spec in self.contract.features:
            name = spec["name"]
            if spec["dtype"] == "category":
                frame[name] = frame[name].astype("category")
            elif spec["dtype"] == "int":
                frame[name] = frame[name].astype(np.int64)
            else:
                frame[name] = pd.to_numeric(frame[name]).astype(np.float64)
        return frame
