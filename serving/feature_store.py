"""Which online feature store the settings name: wiring only.

The stores themselves (tables, keys, typed read-back) live in ``features.online_store`` (the
embedded SQLite file) and ``features.online_store_redis`` (several service hosts); the service
and ``loyalty features materialize`` reach the same one through these two functions.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.contract import FeatureContract
from features.online_store import FILE_NAME, FeatureStore, write_snapshot
from features.online_store_redis import (
    RedisFeatureStore,
    check_url,
    describe,
    write_snapshot_redis,
)
from serving.settings import ServiceSettings


def open_store(settings: ServiceSettings) -> FeatureStore | RedisFeatureStore:
    """The store the settings name: Redis when ``feature_store_url`` is set, else the file."""
    url = settings.feature_store_url
    if url:
        check_url(url)
        return RedisFeatureStore(url, settings.feature_store_prefix)
    return FeatureStore(Path(settings.home) / FILE_NAME)


def write_store(
    settings: ServiceSettings, frame: pd.DataFrame, contract: FeatureContract, as_of: pd.Timestamp
) -> tuple[int, str]:
    """Materialise into the configured store; returns (rows, where)."""
    url = settings.feature_store_url
    if url:
        check_url(url)
        rows = write_snapshot_redis(url, settings.feature_store_prefix, frame, contract, as_of)
        return rows, describe(url, settings.feature_store_prefix)
    path = Path(settings.home) / FILE_NAME
    return write_snapshot(path, frame, contract, as_of), str(path)
