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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from features.query import Query

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


@dataclass
class Stream:
    """Events of one kind, as positions into the timeline's (customer, time) order."""

    name: str
    positions: np.ndarray
    times: np.ndarray
    _keys: np.ndarray | None = None
    prefix: dict[str, np.ndarray] = field(default_factory=dict)


class Timeline:
    """An event log prepared for point-in-time queries (pure: no I/O)."""

    def __init__(self, events: pd.DataFrame) -> None:
        codes, customers = pd.factorize(events["customer_id"], sort=True)
        time = to_us(events["occurred_at"])
        order = np.lexsort((time, codes))
        # a log already in (customer, time) order needs no gathers (the simulator writes one)
        self._order = None if bool((order[1:] > order[:-1]).all()) else order
        self.customers = pd.Index(customers)
        self.code = self._sorted(codes).astype(np.int64)
        self.time = self._sorted(time)
        self._events = events
        kinds = events["event_type"].astype("category")
        self.type_names = [str(c) for c in kinds.cat.categories]
        self.type_code = self._sorted(kinds.cat.codes.to_numpy())
        self._streams: dict[str, Stream] = {}
        self._numbers: dict[str, np.ndarray] = {}
        self._labels: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def _sorted(self, values: np.ndarray) -> np.ndarray:
        return values if self._order is None else values[self._order]

    def __len__(self) -> int:
        return len(self.time)

    def has_numbers(self, name: str) -> bool:
        return name in self._numbers

    def types_mask(self, event_types: tuple[str, ...] | None) -> np.ndarray:
        """Rows whose event type is one of ``event_types`` (all rows for None)."""
        if event_types is None:
            return np.ones(len(self.time), dtype=bool)
        lookup = np.array([name in event_types for name in self.type_names] + [False])
        return lookup[self.type_code]  # code -1 (null type) picks the trailing False

    def stream(
        self, name: str, event_types: tuple[str, ...] | None, where: np.ndarray | None = None
    ) -> Stream:
        """The named subset of events (cached): given types (None: all), narrowed by a mask."""
        if name not in self._streams:
            mask = self.types_mask(event_types)
            if where is not None:
                mask &= where
            positions = np.flatnonzero(mask)
            self._streams[name] = Stream(name, positions, self.time[positions])
        return self._streams[name]

    def keys(self, stream: Stream) -> np.ndarray:
        if stream._keys is None:
            stream._keys = complex_keys(self.code[stream.positions], stream.times)
        return stream._keys

    def numbers(self, column: str) -> np.ndarray:
        """A numeric column in timeline order as float64 (nulls and absent columns as NaN)."""
        if column not in self._numbers:
            if column in self._events.columns:
                values = pd.to_numeric(self._events[column], errors="coerce")
                array = self._sorted(values.to_numpy(dtype=np.float64, na_value=np.nan))
            else:
                array = np.full(len(self.time), np.nan)
            self._numbers[column] = array
        return self._numbers[column]

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

    def derive(self, name: str, values: np.ndarray) -> None:
        """Register a derived numeric column (timeline order) for use in totals."""
        self._numbers[name] = values

    def at(self, customer_ids, as_of) -> Query:
        """Queries for (customer, as-of) pairs; unknown customers get neutral answers."""
        return self.at_us(customer_ids, to_us(np.atleast_1d(as_of)))

    def at_us(self, customer_ids, as_of_us: np.ndarray) -> Query:
        """Like ``at`` with the as-of times as int64 microseconds since the epoch."""
        from features.query import Query

        ids = np.asarray(customer_ids)
        codes = self.customers.get_indexer(ids) if len(ids) else np.empty(0, dtype=np.int64)
        as_of_us = np.broadcast_to(np.asarray(as_of_us, dtype=np.int64), codes.shape)
        return Query(self, codes.astype(np.int64), np.ascontiguousarray(as_of_us))
