"""Dealer mix per (customer, as-of): how concentrated a customer's visits are on one dealer.

Collusive point farming shows as many visits at one dealer. A snapshot counts (customer, dealer)
pairs in the window directly; per-pair as-of times search each customer's pairs with the same
complex keys the Timeline uses.
"""

from __future__ import annotations

import numpy as np

from features.query import Query
from features.timeline import DAY_US, Timeline, complex_keys

VISITS = ("purchase", "service_visit")


def _visits(tl: Timeline) -> tuple[np.ndarray, np.ndarray, int]:
    """Positions of visits with a dealer, their dealer codes, and the dealer code width."""
    codes, _ = tl.labels("dealer_id")
    pos = np.flatnonzero(tl.types_mask(VISITS) & (codes >= 0))
    dealer = codes[pos].astype(np.int64)
    return pos, dealer, int(dealer.max(initial=0)) + 1


def _summarise(query_of: np.ndarray, counts: np.ndarray, n: int) -> dict[str, np.ndarray]:
    total = np.bincount(query_of, weights=counts, minlength=n)
    top = np.zeros(n)
    np.maximum.at(top, query_of, counts)
    distinct = np.bincount(query_of, weights=counts > 0, minlength=n)
    return {
        "dealer_concentration_365d": np.where(total > 0, top / np.maximum(total, 1), 0.0),
        "distinct_dealers_365d": distinct.astype(np.int64),
    }


def _snapshot(tl: Timeline, q: Query, window_days: float) -> dict[str, np.ndarray]:
    pos, dealer, width = _visits(tl)
    t = q.as_of_us[0]
    keep = (tl.time[pos] < t) & (tl.time[pos] >= t - np.int64(window_days * DAY_US))
    pairs, counts = np.unique(
        tl.code[pos[keep]].astype(np.int64) * width + dealer[keep], return_counts=True
    )
    per_customer = _summarise(pairs // width, counts.astype(float), len(tl.customers))
    return {k: np.where(q.known, v[np.maximum(q.codes, 0)], 0) for k, v in per_customer.items()}


def _per_pair(tl: Timeline, q: Query, window_days: float) -> dict[str, np.ndarray]:
    pos, dealer, width = _visits(tl)
    if not len(pos):
        return _summarise(np.empty(0, np.int64), np.empty(0), len(q.codes))
    raw = tl.code[pos].astype(np.int64) * width + dealer
    order = np.argsort(raw, kind="stable")  # stable: time order kept within each pair
    raw_sorted = raw[order]
    new = np.r_[True, raw_sorted[1:] != raw_sorted[:-1]]
    pair_code = np.cumsum(new) - 1
    pair_customer = raw_sorted[new] // width
    keys = complex_keys(pair_code, tl.time[pos][order])
    first = np.searchsorted(pair_customer, q.codes, side="left")
    per_query = np.where(q.known, np.searchsorted(pair_customer, q.codes, side="right") - first, 0)
    query_of = np.repeat(np.arange(len(q.codes)), per_query)
    offsets = np.arange(len(query_of)) - np.repeat(np.cumsum(per_query) - per_query, per_query)
    pair = first[query_of] + offsets
    t = q.as_of_us[query_of].astype(np.float64)
    hi = np.searchsorted(keys, complex_keys(pair, t), side="left")
    lo = np.searchsorted(keys, complex_keys(pair, t - window_days * DAY_US), side="left")
    return _summarise(query_of, (hi - lo).astype(np.float64), len(q.codes))


def dealer_mix(tl: Timeline, q: Query, window_days: float) -> dict[str, np.ndarray]:
    """Largest single-dealer share of visits and distinct dealers in [T - w, T)."""
    return _snapshot(tl, q, window_days) if q.snapshot else _per_pair(tl, q, window_days)
