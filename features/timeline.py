"""Point-in-time aggregates over an event log for any (customer, as-of) pairs.

The log is sorted once by (customer, time). A *stream* is a subset of events (purchases, points
redeemed, ...). A query asks, for every (customer, T) pair, about that customer's stream events
strictly before T: counts and sums over [T - w, T), the last event and its values.

Two exact strategies answer the same questions:
- one as-of for all pairs (a snapshot): cut each stream at T once and aggregate with bincount;
- as-of per pair (offer send times): keys ``code + 1j * time`` are ordered lexicographically by
  numpy, so one ``searchsorted`` per stream finds each pair's position, and prefix sums give
  windows.
Only events with ``occurred_at < T`` are ever read for a query at T, whatever else the log holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

DAY_US = 86_400_000_000


def to_us(values) -> np.ndarray:
    """UTC timestamps (naive = UTC) as int64 microseconds since the epoch."""
    index = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
    return index.as_unit("us").asi8


def complex_keys(real: np.ndarray, imag: np.ndarray) -> np.ndarray:
    """Complex keys built without ``1j * x`` (which turns an infinite x into a NaN real part)."""
    out = np.empty(len(real), dtype=np.complex128)
    out.real = real
    out.imag = imag
    return out


def _factorize_sorted(ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes in ascending id order; O(n) when integer ids already arrive sorted."""
    values = ids.to_numpy()
    if values.dtype.kind in "iu" and len(values) and (values[1:] >= values[:-1]).all():
        new = np.r_[True, values[1:] != values[:-1]]
        return np.cumsum(new) - 1, values[new]
    codes, uniques = pd.factorize(ids, sort=True)
    return codes, np.asarray(uniques)


def in_order(codes: np.ndarray, time: np.ndarray) -> bool:
    """True when rows are already sorted by (customer code, time)."""
    if len(codes) < 2:
        return True
    step = codes[1:] - codes[:-1]
    return bool(((step > 0) | ((step == 0) & (time[1:] >= time[:-1]))).all())


def _as_float_at(values: pd.Series, rows: np.ndarray) -> np.ndarray:
    """Rows of a numeric column as float64 with NaN for nulls, without pandas' generic path."""
    array = values.array
    if isinstance(array, pd.arrays.IntegerArray | pd.arrays.FloatingArray | pd.arrays.BooleanArray):
        out = array._data[rows].astype(np.float64)
        out[array._mask[rows]] = np.nan
        return out
    if values.dtype.kind in "fiub":
        return values.to_numpy()[rows].astype(np.float64)
    picked = pd.to_numeric(values.iloc[rows], errors="coerce")
    return picked.to_numpy(dtype=np.float64, na_value=np.nan)


@dataclass
class Stream:
    """Events of one kind, as positions into the timeline's (customer, time) order."""

    name: str
    positions: np.ndarray
    _keys: np.ndarray | None = None
    prefix: dict[str, np.ndarray] = field(default_factory=dict)

    def release(self) -> None:
        """Drop the per-pair search state (keys, prefix sums); it is rebuilt when needed."""
        self._keys = None
        self.prefix.clear()


class Timeline:
    """An event log prepared for point-in-time queries (pure: no I/O)."""

    def __init__(self, events: pd.DataFrame) -> None:
        codes, customers = _factorize_sorted(events["customer_id"])
        time = to_us(events["occurred_at"])
        # a log already in (customer, time) order needs no sort and no gathers
        self._order = None if in_order(codes, time) else np.lexsort((time, codes))
        self.customers = pd.Index(customers)
        self.code = self._sorted(codes).astype(np.int32)  # int32 halves the biggest arrays
        self.time = self._sorted(time)
        self._events = events
        kinds = events["event_type"].astype("category")
        self.type_names = [str(c) for c in kinds.cat.categories]
        self.type_code = self._sorted(kinds.cat.codes.to_numpy())
        self._by_type: tuple[np.ndarray, np.ndarray] | None = None
        self._first: np.ndarray | None = None
        self._streams: dict[str, Stream] = {}
        self._numbers: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._labels: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _sorted(self, values: np.ndarray) -> np.ndarray:
        return values if self._order is None else values[self._order]

    def __len__(self) -> int:
        return len(self.time)

    def has_numbers(self, name: str) -> bool:
        return name in self._numbers

    def type_positions(self, event_type: str) -> np.ndarray:
        """Positions of one event type, ascending (one stable radix sort serves every type)."""
        if self._by_type is None:
            order = np.argsort(self.type_code, kind="stable").astype(np.int32)
            bounds = np.searchsorted(self.type_code[order], np.arange(-1, len(self.type_names) + 1))
            self._by_type = (order, bounds)
        order, bounds = self._by_type
        if event_type not in self.type_names:
            return np.empty(0, dtype=np.int32)
        code = self.type_names.index(event_type) + 1  # bounds start at code -1 (null type)
        return order[bounds[code] : bounds[code + 1]]

    def types_mask(self, event_types: tuple[str, ...] | None) -> np.ndarray:
        """Rows whose event type is one of ``event_types`` (all rows for None)."""
        if event_types is None:
            return np.ones(len(self.time), dtype=bool)
        lookup = np.array([name in event_types for name in self.type_names] + [False])
        return lookup[self.type_code]  # code -1 (null type) picks the trailing False

    def stream(
        self,
        name: str,
        event_types: tuple[str, ...] | None,
        where: np.ndarray | Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> Stream:
        """The named subset of events (cached): given types (None: all), narrowed by a mask over
        the whole timeline or a function of the candidate positions."""
        if name not in self._streams:
            if event_types is None:
                positions = np.arange(len(self.time), dtype=np.int32)
            elif len(event_types) == 1:
                positions = self.type_positions(event_types[0])
            else:
                positions = np.sort(np.concatenate([self.type_positions(t) for t in event_types]))
            if callable(where):
                positions = positions[where(positions)]
            elif where is not None:
                positions = positions[where[positions]]
            self._streams[name] = Stream(name, positions)
        return self._streams[name]

    def keys(self, stream: Stream) -> np.ndarray:
        if stream._keys is None:
            stream._keys = complex_keys(self.code[stream.positions], self.time[stream.positions])
        return stream._keys

    def values_at(self, column: str, positions: np.ndarray) -> np.ndarray:
        """A numeric (or derived) column at timeline positions: float64, NaN for nulls.

        Only the requested rows are converted: whole float copies of every numeric column of a
        50M-row log would cost gigabytes.
        """
        if column in self._numbers:
            known, values = self._numbers[column]
            idx = np.minimum(np.searchsorted(known, positions), max(len(known) - 1, 0))
            hit = (known[idx] == positions) if len(known) else np.zeros(len(positions), bool)
            return np.where(hit, values[idx] if len(known) else np.nan, np.nan)
        if column not in self._events.columns:
            return np.full(len(positions), np.nan)
        raw = positions if self._order is None else self._order[positions]
        return _as_float_at(self._events[column], raw)

    def labels(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """(codes in timeline order, label values) of a text column; code -1 is null."""
        if column not in self._labels:
            if column in self._events.columns:
                cat = self._events[column].astype("category")
                codes = self._sorted(cat.cat.codes.to_numpy())
                values = np.asarray(cat.cat.categories.astype(str), dtype=object)
            else:
                codes, values = np.full(len(self.time), -1, dtype=np.int8), np.empty(0, object)
            self._labels[column] = (codes, values)
        return self._labels[column]

    def equals(self, column: str, value: str) -> np.ndarray:
        """Rows whose text column equals ``value``."""
        codes, values = self.labels(column)
        hit = np.flatnonzero(values == value)
        return codes == hit[0] if len(hit) else np.zeros(len(self.time), dtype=bool)

    def first_time(self) -> np.ndarray:
        """Each customer's first event time (µs), by customer code: the start of its block."""
        if self._first is None:
            starts = np.searchsorted(self.code, np.arange(len(self.customers)), side="left")
            self._first = self.time[np.minimum(starts, len(self.time) - 1)]
        return self._first

    def derive(self, name: str, positions: np.ndarray, values: np.ndarray) -> None:
        """Register a derived numeric column known at some (ascending) positions; NaN elsewhere."""
        self._numbers[name] = (positions, values)
