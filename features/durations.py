"""Durations and dates as the command line takes them (``90d``, ``12w``; ISO dates in UTC)."""

from __future__ import annotations

import re

import pandas as pd

_UNITS = {"d": 1.0, "w": 7.0}


class DurationError(ValueError):
    """A duration or date the user gave cannot be read; the message says what is accepted."""


def parse_duration(text: str) -> float:
    """Days in ``text``: ``<n>d`` or ``<n>w``. Months are refused: their length is ambiguous."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*", str(text))
    if not match:
        raise DurationError(f"duration {text!r} is not <number><unit>, e.g. 90d or 12w")
    value, unit = float(match.group(1)), match.group(2).lower()
    if unit not in _UNITS:
        hint = " (months are ambiguous: use days or weeks)" if unit.startswith("m") else ""
        raise DurationError(f"duration {text!r}: unknown unit {unit!r}; use d or w{hint}")
    if value <= 0:
        raise DurationError(f"duration {text!r} must be positive")
    return value * _UNITS[unit]


def parse_timestamp(text: str) -> pd.Timestamp:
    """An ISO date or timestamp in UTC; a bare date means 00:00 UTC that day."""
    if not re.fullmatch(
        r"\d{4}-\d{2}-\d{2}([T ][0-9:.]+)?(Z|[+-]\d{2}:?\d{2})?", str(text).strip()
    ):
        raise DurationError(f"{text!r} is not an ISO date or timestamp (YYYY-MM-DD[THH:MM:SS])")
    try:
        ts = pd.Timestamp(str(text))
    except ValueError as exc:
        raise DurationError(f"{text!r} is not an ISO date or timestamp") from exc
    if ts is pd.NaT:
        raise DurationError(f"{text!r} is not an ISO date or timestamp")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
