"""Reading the rows a report or a gate looks at: Parquet files or folders, sampled when large.

Sampling strategy (stated in every report): when a side has more than ``max_rows`` rows, a uniform
random sample of exactly ``max_rows`` rows is drawn without replacement with a seeded generator
(numpy PCG64), and the rows keep their file order. Only the columns needed are read, and only the
sampled rows are converted to pandas, so a million-row side costs a second, not a minute.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from features.contract import FeatureContract
from features.errors import InputError

SAMPLING = "uniform random sample without replacement (numpy PCG64, seeded), file order kept"
ID_COLUMNS = ("customer_id", "send_event_id")
TIME_COLUMNS = ("snapshot", "as_of")


@dataclass(frozen=True)
class Sample:
    """Rows read from ``path``: ``total`` rows there, ``len(frame)`` of them kept."""

    frame: pd.DataFrame
    path: str
    total: int
    seed: int
    max_rows: int | None

    @property
    def sampled(self) -> bool:
        return len(self.frame) < self.total

    def describe(self) -> dict:
        return {
            "path": self.path,
            "rows": self.total,
            "rows_used": len(self.frame),
            "sampled": self.sampled,
            "strategy": SAMPLING if self.sampled else "all rows",
            "seed": self.seed,
            "max_rows": self.max_rows,
        }


def _dataset(path: Path):
    import pyarrow.dataset as ds

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    try:
        return ds.dataset(str(path), format="parquet")
    except Exception as exc:  # pyarrow raises several types for unreadable input
        raise InputError(f"{path}: not a Parquet file or folder of them ({exc})") from exc


def columns_of(path: Path) -> list[str]:
    """The column names of a Parquet file or folder, without reading any rows."""
    return list(_dataset(path).schema.names)


def read_sample(
    path: Path, columns: list[str] | None, max_rows: int | None, seed: int, where=None
) -> Sample:
    """At most ``max_rows`` rows (None: every row) of ``columns`` (None: all), drawn as the
    module says.

    ``where`` is an optional pyarrow filter expression applied before sampling.
    """
    data = _dataset(path)
    missing = [c for c in columns or [] if c not in data.schema.names]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing[:10]}")
    try:
        table = data.to_table(columns=columns, filter=where)
    except Exception as exc:
        raise InputError(f"{path}: cannot read the rows ({exc})") from exc
    total = table.num_rows
    if max_rows is not None and total > max_rows:
        take = np.sort(np.random.default_rng(seed).choice(total, size=max_rows, replace=False))
        table = table.take(take)
    return Sample(table.to_pandas(), str(path), total, seed, max_rows)


def sample_frame(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """The same strategy on a frame already in memory (index reset)."""
    if len(frame) <= max_rows:
        return frame.reset_index(drop=True)
    take = np.sort(np.random.default_rng(seed).choice(len(frame), size=max_rows, replace=False))
    return frame.iloc[take].reset_index(drop=True)


def contract_beside(path: Path) -> FeatureContract | None:
    """The feature contract of a table: in the folder itself, or beside the file or folder
    (a dataset's ``DIR/<kind>/data`` has it in ``DIR/<kind>``)."""
    path = Path(path)
    for folder in ([path] if path.is_dir() else []) + [path.parent]:
        found = folder / "feature_contract.json"
        if found.is_file():
            try:
                return FeatureContract.from_dict(json.loads(found.read_text()))
            except (ValueError, KeyError) as exc:
                raise InputError(f"{found}: unreadable feature contract: {exc}") from exc
    return None


def kind_data(dataset: Path, kind: str) -> Path:
    """``DIR/<kind>/data`` of a dataset folder, checked to exist."""
    folder = Path(dataset) / kind / "data"
    if not folder.is_dir():
        raise InputError(
            f"{dataset} has no {kind}/data folder: give a folder written by `loyalty dataset build`"
        )
    return folder


def last_snapshot(path: Path) -> pd.Timestamp:
    """The latest ``snapshot`` of a dataset kind's rows (the most recent labelled window)."""
    data = _dataset(path)
    if "snapshot" not in data.schema.names:
        raise InputError(f"{path}: no snapshot column (not a dataset written by the builder)")
    latest = pc.max(data.to_table(columns=["snapshot"])["snapshot"]).as_py()
    if latest is None:
        raise InputError(f"{path} holds no rows")
    return pd.Timestamp(latest)


def snapshot_filter(when: pd.Timestamp):
    """A pyarrow filter for the rows of one snapshot."""
    import pyarrow.dataset as ds

    return ds.field("snapshot") == when.to_pydatetime()
