"""Answers for a batch of (customer, as-of) pairs over a Timeline's streams.

When every pair shares one as-of (a snapshot) each stream is cut at T once and aggregated with
bincount, O(stream). Otherwise pairs are located with one sorted ``searchsorted`` per stream and
window, O(pairs x log stream). Both are exact and agree (tests compare them).
"""

from __future__ import annotations

import numpy as np

from features.timeline import DAY_US, Stream, Timeline, complex_keys, in_order, to_us


class Query:
    @classmethod
    def at(cls, tl: Timeline, customer_ids, as_of) -> Query:
        """Queries for (customer, as-of) pairs; unknown customers get neutral answers."""
        return cls.at_us(tl, customer_ids, to_us(np.atleast_1d(as_of)))

    @classmethod
    def at_us(cls, tl: Timeline, customer_ids, as_of_us: np.ndarray) -> Query:
        """Like ``at`` with the as-of times as int64 microseconds since the epoch."""
        ids = np.asarray(customer_ids)
        codes = tl.customers.get_indexer(ids) if len(ids) else np.empty(0, dtype=np.int64)
        as_of_us = np.broadcast_to(np.asarray(as_of_us, dtype=np.int64), codes.shape)
        return cls(tl, codes.astype(np.int64), np.ascontiguousarray(as_of_us))

    def __init__(self, timeline: Timeline, codes: np.ndarray, as_of_us: np.ndarray) -> None:
        self.timeline = timeline
        self.codes = codes
        self.as_of_us = as_of_us
        self.known = codes >= 0
        self.snapshot = len(as_of_us) > 0 and bool((as_of_us == as_of_us[0]).all())
        # sorted needles search much faster; pairs often arrive sorted already
        self._order = None if in_order(codes, as_of_us) else np.lexsort((as_of_us, codes))
        self._cache: dict[tuple, np.ndarray] = {}

    # -- positions -------------------------------------------------------------------------------
    def _before(self, stream: Stream) -> tuple[np.ndarray, np.ndarray]:
        """Snapshot: (positions, times) of the stream's events before T (codes are gathered
        per use: caching them too would cost a gigabyte on a 50M-event log)."""
        key = ("before", stream.name)
        if key not in self._cache:
            times = self.timeline.time[stream.positions]
            keep = times < self.as_of_us[0]
            self._cache[key] = (stream.positions[keep], times[keep])
        return self._cache[key]

    def _window(self, stream: Stream, window_days: float | None) -> np.ndarray | slice:
        """Snapshot: which of the before-T events fall in [T - w, T)."""
        if window_days is None:
            return slice(None)
        key = ("window", stream.name, window_days)
        if key not in self._cache:
            times = self._before(stream)[1]
            self._cache[key] = times >= self.as_of_us[0] - np.int64(round(window_days * DAY_US))
        return self._cache[key]

    def _before_values(self, stream: Stream, column: str) -> np.ndarray:
        key = ("values", stream.name, column)
        if key not in self._cache:
            values = self.timeline.values_at(column, self._before(stream)[0])
            self._cache[key] = np.nan_to_num(values)
        return self._cache[key]

    def _search(self, stream: Stream, shift_days: float | None) -> np.ndarray:
        """Per pair: index in the stream of the first event at or after (customer, T - shift);
        shift None means the customer's first event at all."""
        key = ("search", stream.name, shift_days)
        if key not in self._cache:
            if shift_days is None:
                t = np.full(len(self.codes), -9e18)
            else:
                t = (self.as_of_us - np.int64(round(shift_days * DAY_US))).astype(np.float64)
            needles = complex_keys(self.codes, t)
            keys = self.timeline.keys(stream)
            if self._order is None:
                found = np.searchsorted(keys, needles, side="left")
            else:
                found = np.empty(len(needles), dtype=np.int64)
                found[self._order] = np.searchsorted(keys, needles[self._order], side="left")
            self._cache[key] = found
        return self._cache[key]

    def _per_pair(self, per_code: np.ndarray, default) -> np.ndarray:
        return np.where(self.known, per_code[np.maximum(self.codes, 0)], default)

    # -- aggregates ------------------------------------------------------------------------------
    def count(self, stream: Stream, window_days: float | None = None) -> np.ndarray:
        """Events in [T - w, T) (all before T without a window)."""
        if self.snapshot:
            codes = self.timeline.code[self._before(stream)[0][self._window(stream, window_days)]]
            per_code = np.bincount(codes, minlength=len(self.timeline.customers))
            return self._per_pair(per_code, 0).astype(np.int64)
        lower = self._search(stream, window_days)
        return self._search(stream, 0.0) - lower

    def total(self, stream: Stream, column: str, window_days: float | None = None) -> np.ndarray:
        """Sum of a numeric column over the events in [T - w, T); nulls count as 0."""
        if self.snapshot:
            inside = self._window(stream, window_days)
            codes = self.timeline.code[self._before(stream)[0][inside]]
            weights = self._before_values(stream, column)[inside]
            per_code = np.bincount(codes, weights=weights, minlength=len(self.timeline.customers))
            return self._per_pair(per_code, 0.0)
        prefix = stream.prefix.get(column)
        if prefix is None:
            values = self.timeline.values_at(column, stream.positions)
            prefix = stream.prefix[column] = np.r_[0.0, np.cumsum(np.nan_to_num(values))]
        return prefix[self._search(stream, 0.0)] - prefix[self._search(stream, window_days)]

    def _edge_position(self, stream: Stream, last: bool) -> np.ndarray:
        """Timeline position of each pair's last (or first) stream event before T; -1 if none."""
        if self.snapshot:
            cut = self._before(stream)[0]
            code = self.timeline.code[cut]
            if not len(cut):
                return np.full(len(self.codes), -1, dtype=np.int64)
            edge = (
                np.r_[code[1:] != code[:-1], True] if last else np.r_[True, code[1:] != code[:-1]]
            )
            per_code = np.full(len(self.timeline.customers), -1, dtype=np.int64)
            per_code[code[edge]] = cut[edge]
            return self._per_pair(per_code, -1)
        start, end = self._search(stream, None), self._search(stream, 0.0)
        idx = (
            np.maximum(end - 1, 0) if last else np.minimum(start, max(len(stream.positions) - 1, 0))
        )
        found = stream.positions[idx] if len(stream.positions) else np.zeros(len(end), np.int64)
        return np.where(end > start, found, -1)

    def days_since_first_event(self) -> np.ndarray:
        """Days from each customer's first event of any kind to T; NaN when none before T."""
        first = self.timeline.first_time()[np.maximum(self.codes, 0)]
        seen = self.known & (first < self.as_of_us)
        return np.where(seen, (self.as_of_us - first) / DAY_US, np.nan)

    def last_position(self, stream: Stream) -> np.ndarray:
        return self._edge_position(stream, last=True)

    def days_since_last(self, stream: Stream, never: float) -> np.ndarray:
        """Days from the last stream event before T to T, capped at ``never`` (also: none)."""
        pos = self._edge_position(stream, last=True)
        days = (self.as_of_us - self.timeline.time[np.maximum(pos, 0)]) / DAY_US
        return np.where(pos >= 0, np.minimum(days, never), never)

    def days_since_first(self, stream: Stream, never: float) -> np.ndarray:
        pos = self._edge_position(stream, last=False)
        days = (self.as_of_us - self.timeline.time[np.maximum(pos, 0)]) / DAY_US
        return np.where(pos >= 0, np.minimum(days, never), never)

    def last_number(self, stream: Stream, column: str, default: float) -> np.ndarray:
        pos = self.last_position(stream)
        values = self.timeline.values_at(column, np.maximum(pos, 0))
        return np.where((pos >= 0) & ~np.isnan(values), values, default)

    def last_label(self, stream: Stream, column: str, default: str) -> np.ndarray:
        """The text value at each pair's last stream event before T (``default``: none or null)."""
        pos = self.last_position(stream)
        codes, values = self.timeline.labels(column)
        code = np.where(pos >= 0, codes[np.maximum(pos, 0)], -1)
        table = np.r_[values, np.array([default], dtype=object)]
        return table[np.where(code >= 0, code, len(values))]
