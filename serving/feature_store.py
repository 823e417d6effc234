"""The online feature store: the latest materialised features, one row per customer.

Embedded by default: an SQLite file in the data home, replaced atomically by each
materialisation (written beside it, then renamed). With ``LOYALTY_FEATURE_STORE_URL=redis://...``
(several service hosts) the snapshot goes to Redis instead: each materialisation writes a new
snapshot under its own keys, then moves one pointer key to it; the snapshot it replaces expires
after a grace period. Either way a reader sees the old snapshot or the new one, never a mix, and
values keep their contract types on the way back: what the service reads equals what the dataset
builder computed for the same T.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.contract import FeatureContract
from features.errors import UnavailableError

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


class FeatureStoreUnavailableError(UnavailableError, RuntimeError):
    """The configured store cannot answer (Redis down, snapshot gone)."""


class FeatureStore:
    """Read access to a materialised snapshot (the embedded SQLite file)."""

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
        self.where = str(self.path)
        self.token = self.path.stat().st_mtime
        self._local = threading.local()
        names = ", ".join(f'"{n}"' for n in self.contract.names)
        self._select = f"SELECT customer_key, {names} FROM features WHERE customer_key IN "

    def current_token(self) -> Any:
        """What changes when a new snapshot replaces this one (the file's mtime)."""
        return self.path.stat().st_mtime if self.path.exists() else None

    def lookup(self, customer_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Plain typed rows (category: str, int: int, float: float or None) by customer key;
        one read-only connection per thread, kept on this snapshot's file."""
        keys = [str(c) for c in customer_ids]
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, check_same_thread=False
            )
        names = self.contract.names
        out = {}
        for start in range(0, len(keys), 900):  # SQLite's bound-parameter limit
            chunk = keys[start : start + 900]
            sql = self._select + "(" + ", ".join("?" * len(chunk)) + ")"
            for row in db.execute(sql, chunk):
                out[row[0]] = dict(zip(names, row[1:], strict=True))
        return out

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
        return _typed_frame(self.contract, frame)


def _typed_frame(contract: FeatureContract, frame: pd.DataFrame) -> pd.DataFrame:
    for spec in contract.features:
        name = spec["name"]
        if spec["dtype"] == "category":
            frame[name] = frame[name].astype("category")
        elif spec["dtype"] == "int":
            frame[name] = frame[name].astype(np.int64)
        else:
            frame[name] = pd.to_numeric(frame[name]).astype(np.float64)
    return frame


# -- Redis ---------------------------------------------------------------------------------------
GRACE_S = 600  # a replaced Redis snapshot lives this long for readers still on it


def _redis(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)


def _keys(prefix: str, sid: str) -> tuple[str, str]:
    return f"{prefix}:{sid}:meta", f"{prefix}:{sid}:rows"


def write_snapshot_redis(
    url: str, prefix: str, frame: pd.DataFrame, contract: FeatureContract, as_of: pd.Timestamp
) -> int:
    """Write ``frame`` as a new snapshot under ``prefix``, then point ``<prefix>:current`` at it;
    the snapshot it replaces expires after ``GRACE_S``."""
    import redis

    client = _redis(url)
    sid = uuid.uuid4().hex
    meta_key, rows_key = _keys(prefix, sid)
    keys = frame["customer_id"].astype(str).tolist()
    columns = [
        _sql_values(frame[n], spec)
        for n, spec in zip(contract.names, contract.features, strict=True)
    ]
    try:
        for start in range(0, len(keys), _BATCH // 5):
            stop = start + _BATCH // 5
            chunk = {
                k: json.dumps(list(values), separators=(",", ":"))
                for k, *values in zip(
                    keys[start:stop], *(c[start:stop] for c in columns), strict=True
                )
            }
            if chunk:
                client.hset(rows_key, mapping=chunk)
        meta = {"as_of": as_of.isoformat(), "contract": json.dumps(contract.to_dict())}
        client.hset(meta_key, mapping={**meta, "rows": str(len(keys))})
        old = client.getset(f"{prefix}:current", sid)
    except redis.RedisError as exc:
        with contextlib.suppress(redis.RedisError):  # leave no half-written snapshot
            client.delete(meta_key, rows_key)
        raise FeatureStoreUnavailableError(f"cannot write features to {url}: {exc}") from exc
    if old is not None:
        for key in _keys(prefix, old.decode()):
            client.expire(key, GRACE_S)
    return len(keys)


class RedisFeatureStore:
    """Read access to the current Redis snapshot under ``prefix`` (same interface as the
    embedded store: ``as_of``, ``contract``, ``rows``, ``lookup``, ``read``)."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.url, self.prefix = url, prefix
        self.where = f"{_safe_url(url)} (keys {prefix}:*)"
        self.client = _redis(url)
        try:
            sid = self.client.get(f"{prefix}:current")
            if sid is None:
                raise FileNotFoundError(
                    f"no online feature snapshot in Redis at {self.where}: "
                    "run `loyalty features materialize`"
                )
            self.token = sid.decode()
            meta_key, self._rows_key = _keys(prefix, self.token)
            meta = {k.decode(): v.decode() for k, v in self.client.hgetall(meta_key).items()}
        except redis.RedisError as exc:
            raise FeatureStoreUnavailableError(f"Redis at {self.where}: {exc}") from exc
        if not meta:
            raise FeatureStoreUnavailableError(f"snapshot {self.token} at {self.where} is gone")
        self.as_of = pd.Timestamp(meta["as_of"])
        self.contract = FeatureContract.from_dict(json.loads(meta["contract"]))
        self.rows = int(meta["rows"])

    def current_token(self) -> Any:
        import redis

        try:
            sid = self.client.get(f"{self.prefix}:current")
        except redis.RedisError:
            return self.token  # keep serving what we have; requests will say if Redis is down
        return sid.decode() if sid is not None else None

    def lookup(self, customer_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        import redis

        keys = [str(c) for c in customer_ids]
        if not keys:
            return {}
        try:
            found = self.client.hmget(self._rows_key, keys)
            if not all(found) and not self.client.exists(self._rows_key):
                raise FeatureStoreUnavailableError(
                    f"snapshot {self.token} at {self.where} expired: a newer one replaced it"
                )
        except redis.RedisError as exc:
            raise FeatureStoreUnavailableError(f"Redis at {self.where}: {exc}") from exc
        names = self.contract.names
        return {
            k: dict(zip(names, json.loads(v), strict=True))
            for k, v in zip(keys, found, strict=True)
            if v is not None
        }

    def read(self, customer_ids) -> pd.DataFrame:
        """Features of the given customers as a typed frame (those not stored are left out)."""
        rows = self.lookup(customer_ids)
        frame = pd.DataFrame(
            [[k, *(r[n] for n in self.contract.names)] for k, r in rows.items()],
            columns=["customer_key", *self.contract.names],
        )
        return _typed_frame(self.contract, frame)


def _safe_url(url: str) -> str:
    """The URL without a password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _check_url(url: str) -> None:
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(
            f"LOYALTY_FEATURE_STORE_URL must be a redis://, rediss:// or unix:// URL, "
            f"not {_safe_url(url)!r} (unset it for the embedded store)"
        )


def open_store(settings) -> FeatureStore | RedisFeatureStore:
    """The store the settings name: Redis when ``feature_store_url`` is set, else the file."""
    url = settings.feature_store_url
    if url:
        _check_url(url)
        return RedisFeatureStore(url, settings.feature_store_prefix)
    return FeatureStore(Path(settings.home) / FILE_NAME)


def write_store(settings, frame: pd.DataFrame, contract: FeatureContract, as_of) -> tuple[int, str]:
    """Materialise into the configured store; returns (rows, where)."""
    url = settings.feature_store_url
    if url:
        _check_url(url)
        rows = write_snapshot_redis(url, settings.feature_store_prefix, frame, contract, as_of)
        return rows, f"{_safe_url(url)} (keys {settings.feature_store_prefix}:*)"
    path = Path(settings.home) / FILE_NAME
    return write_snapshot(path, frame, contract, as_of), str(path)
