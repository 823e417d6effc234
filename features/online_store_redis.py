"""The online feature store in Redis, for several service hosts (``LOYALTY_FEATURE_STORE_URL``).

Each materialisation writes a new snapshot under its own keys (``<prefix>:<id>:rows``, one hash
field per customer holding its values in contract order, and ``<prefix>:<id>:meta``), then moves
one pointer key (``<prefix>:current``) to it; the snapshot it replaces expires after a grace
period, so a reader sees the old snapshot or the new one, never a mix. Same interface as the
embedded store (``features.online_store.FeatureStore``).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import redis

from features.consent import CONSENT_FIELDS
from features.contract import FeatureContract
from features.online_store import BATCH, FeatureStoreUnavailableError, plain_values, typed_frame

GRACE_S = 600  # a replaced Redis snapshot lives this long for readers still on it
_CHUNK = BATCH // 5


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)


def _consent_key(rows_key: str) -> str:
    """The hash of the snapshot's consent records, beside its rows."""
    return f"{rows_key}:consent"


def _keys(prefix: str, sid: str) -> tuple[str, str]:
    return f"{prefix}:{sid}:meta", f"{prefix}:{sid}:rows"


def safe_url(url: str) -> str:
    """The URL without a password (for messages and logs)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def check_url(url: str) -> None:
    """Refuse a URL Redis cannot use, before anything connects (ValueError names the setting)."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(
            f"LOYALTY_FEATURE_STORE_URL must be a redis://, rediss:// or unix:// URL, "
            f"not {safe_url(url)!r} (unset it for the embedded store)"
        )


def describe(url: str, prefix: str) -> str:
    """Where a snapshot lives, without the password."""
    return f"{safe_url(url)} (keys {prefix}:*)"


def write_snapshot_redis(
    url: str, prefix: str, frame: pd.DataFrame, contract: FeatureContract, as_of: pd.Timestamp
) -> int:
    """Write ``frame`` as a new snapshot under ``prefix``, then point ``<prefix>:current`` at it;
    the snapshot it replaces expires after ``GRACE_S``."""
    client = _client(url)
    sid = uuid.uuid4().hex
    meta_key, rows_key = _keys(prefix, sid)
    try:
        _write_rows(client, rows_key, frame, contract)
        meta = {"as_of": as_of.isoformat(), "contract": json.dumps(contract.to_dict())}
        client.hset(meta_key, mapping={**meta, "rows": str(len(frame))})
        old = client.getset(f"{prefix}:current", sid)
    except redis.RedisError as exc:
        with contextlib.suppress(redis.RedisError):  # leave no half-written snapshot
            client.delete(meta_key, rows_key, _consent_key(rows_key))
        raise FeatureStoreUnavailableError(f"cannot write features to {url}: {exc}") from exc
    if old is not None:
        old_meta, old_rows = _keys(prefix, old.decode())
        for key in (old_meta, old_rows, _consent_key(old_rows)):
            client.expire(key, GRACE_S)
    return len(frame)


def _write_rows(
    client: redis.Redis, rows_key: str, frame: pd.DataFrame, contract: FeatureContract
) -> None:
    keys = frame["customer_id"].astype(str).tolist()
    columns = [
        plain_values(frame[n], spec)
        for n, spec in zip(contract.names, contract.features, strict=True)
    ]
    consent = [i for i, n in enumerate(contract.names) if n in CONSENT_FIELDS]
    for start in range(0, len(keys), _CHUNK):
        stop = start + _CHUNK
        rows = list(zip(keys[start:stop], *(c[start:stop] for c in columns), strict=True))
        if rows:
            chunk = {k: json.dumps(list(values), separators=(",", ":")) for k, *values in rows}
            client.hset(rows_key, mapping=chunk)
            records = {
                k: json.dumps([values[i] for i in consent], separators=(",", ":"))
                for k, *values in rows
            }
            client.hset(_consent_key(rows_key), mapping=records)


class RedisFeatureStore:
    """Read access to the current Redis snapshot under ``prefix`` (same interface as the
    embedded store: ``as_of``, ``contract``, ``rows``, ``lookup``, ``read``)."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url, self.prefix = url, prefix
        self.where = describe(url, prefix)
        self.client = _client(url)
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
        self._consent_fields = [n for n in self.contract.names if n in CONSENT_FIELDS]

    def current_token(self) -> Any:
        """The snapshot the pointer names now (this one's while Redis cannot answer)."""
        try:
            sid = self.client.get(f"{self.prefix}:current")
        except redis.RedisError:
            return self.token  # keep serving what we have; requests will say if Redis is down
        return sid.decode() if sid is not None else None

    def lookup(self, customer_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Plain typed rows by customer key, in one HMGET."""
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

    def consent(self, customer_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Only the consent record of each stored customer, from the snapshot's consent hash
        (written beside the rows): read before any feature."""
        keys = [str(c) for c in customer_ids]
        if not keys:
            return {}
        try:
            found = self.client.hmget(_consent_key(self._rows_key), keys)
            if not all(found) and not self.client.exists(_consent_key(self._rows_key)):
                raise FeatureStoreUnavailableError(
                    f"snapshot {self.token} at {self.where} has no consent records (written "
                    "by an earlier release, or expired): run `loyalty features materialize`"
                )
        except redis.RedisError as exc:
            raise FeatureStoreUnavailableError(f"Redis at {self.where}: {exc}") from exc
        fields = self._consent_fields
        return {
            k: dict(zip(fields, json.loads(v), strict=True))
            for k, v in zip(keys, found, strict=True)
            if v is not None
        }

    def read(self, customer_ids: Iterable[str]) -> pd.DataFrame:
        """Features of the given customers as a typed frame (those not stored are left out)."""
        rows = self.lookup(customer_ids)
        frame = pd.DataFrame(
            [[k, *(r[n] for n in self.contract.names)] for k, r in rows.items()],
            columns=["customer_key", *self.contract.names],
        )
        return typed_frame(self.contract, frame)
