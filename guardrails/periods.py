"""Budget periods: calendar months, quarters or years in UTC, keyed as the ledger keys them."""

from __future__ import annotations

import datetime as dt

PERIOD_KINDS = ("month", "quarter", "year")
_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def period_key(when: dt.datetime, kind: str) -> str:
    """The period a time falls in: ``2025-07`` (month), ``2025Q3`` (quarter) or ``2025`` (year)."""
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    if kind == "month":
        return f"{when.year:04d}-{when.month:02d}"
    if kind == "quarter":
        return f"{when.year:04d}Q{(when.month - 1) // 3 + 1}"
    if kind == "year":
        return f"{when.year:04d}"
    raise ValueError(f"unknown period kind {kind!r}; choose one of: {', '.join(PERIOD_KINDS)}")


def periods_between(start: dt.date, end: dt.date, kind: str) -> int:
    """How many periods of ``kind`` the half-open span [start, end) touches (at least one)."""
    step = _MONTHS[kind]
    first = (start.year * 12 + start.month - 1) // step
    last_day = end - dt.timedelta(days=1) if end > start else start
    last = (last_day.year * 12 + last_day.month - 1) // step
    return last - first + 1


def open_periods(now: dt.datetime, kind: str, skew_s: float) -> tuple[str, ...]:
    """The periods a decision at ``now`` may reserve in: the clock's period, and its neighbour
    when ``now`` lies within ``skew_s`` seconds of the boundary (clocks of callers and hosts
    differ a little)."""
    skew = dt.timedelta(seconds=max(skew_s, 0.0))
    keys = (period_key(now - skew, kind), period_key(now, kind), period_key(now + skew, kind))
    return tuple(dict.fromkeys(keys))


def previous_period(key: str, kind: str) -> str:
    """The period before ``key``: ``2025-06`` before ``2025-07``, ``2024Q4`` before ``2025Q1``."""
    if kind == "month":
        year, month = int(key[:4]), int(key[5:7])
        return f"{year - 1:04d}-12" if month == 1 else f"{year:04d}-{month - 1:02d}"
    if kind == "quarter":
        year, quarter = int(key[:4]), int(key[5])
        return f"{year - 1:04d}Q4" if quarter == 1 else f"{year:04d}Q{quarter - 1}"
    if kind == "year":
        return f"{int(key) - 1:04d}"
    raise ValueError(f"unknown period kind {kind!r}; choose one of: {', '.join(PERIOD_KINDS)}")
