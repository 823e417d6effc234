"""Checks of what a caller sends, beyond its JSON types: feature values against the feature
contract, times within the range the service computes with, events against the canonical
schema's per-type rules. Pure functions returning field-level problems; nothing is written
before they pass.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from features.schema import REQUIRED_ATTRIBUTES

# Times the service computes with (contact windows, budget periods, UTC conversion) stay far
# from the calendar's ends, where date arithmetic overflows: [1900-01-01, 2200-01-01) in UTC.
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
# The largest integer a float64 holds exactly: models read features as float64.
MAX_EXACT_INT = 2**53


def time_problem(field: str, when: dt.datetime) -> str | None:
    """Why ``when`` is outside the accepted range (naive means UTC), or None."""
    aware = when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
    if EARLIEST <= aware < LATEST:  # compared without converting: no overflow near year 9999
        return None
    return (
        f"{field}: {when.isoformat()} is outside the accepted range "
        f"{EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} (UTC, end excluded)"
    )


def event_time(value: dt.datetime | str) -> dt.datetime:
    """An event's ``occurred_at`` as a datetime (ISO text accepted; naive means UTC)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def as_utc(when: dt.datetime) -> dt.datetime:
    """A checked time in UTC (naive means UTC)."""
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def check_overrides(overrides: Mapping[str, Any], contract_features: Sequence[dict]) -> list[str]:
    """Field-level problems of caller-sent feature values against the feature contract."""
    specs = {f["name"]: f for f in contract_features}
    problems = []
    for name, value in overrides.items():
        spec = specs.get(name)
        where = f"features.{name}"
        if spec is None:
            problems.append(f"{where}: not a feature of contract version in use")
        elif value is None:
            if not spec.get("nullable"):
                problems.append(f"{where}: may not be null")
        elif spec["dtype"] == "category":
            problems += _category_problems(where, value, spec)
        else:
            problems += _number_problems(where, value, spec)
    return problems


def _category_problems(where: str, value: Any, spec: dict) -> list[str]:
    if not isinstance(value, str):
        return [f"{where}: must be a string (category), not {_shown(value)}"]
    levels = spec.get("categories")
    if levels and value not in levels:
        return [f"{where}: unknown level {value!r}; levels: {', '.join(levels)}"]
    return []


def _number_problems(where: str, value: Any, spec: dict) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [f"{where}: must be a number, not {_shown(value)}"]
    if isinstance(value, int) and abs(value) > MAX_EXACT_INT:  # before any float(): 10**400
        return [f"{where}: {_shown(value)} is too large: integers must lie within ±2**53"]
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{where}: must be finite"]
    if spec["dtype"] == "int" and not float(value).is_integer():
        return [f"{where}: must be an integer"]
    out = []
    lo, hi = spec.get("min"), spec.get("max")
    if lo is not None and value < lo:
        out.append(f"{where}: {value} is below the minimum {lo}")
    if hi is not None and value > hi:
        out.append(f"{where}: {value} is above the maximum {hi}")
    return out


def _shown(value: Any) -> str:
    """The value as JSON would show it, cut short (a 400-digit number stays readable)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:12]}... ({len(text)} characters)"


def check_events(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """Per event: its time in range and the attributes its type needs (the file validator's
    table, ``features.schema.REQUIRED_ATTRIBUTES``, and its words)."""
    problems = []
    for i, event in enumerate(events):
        at = event.get("occurred_at")
        if at is not None and (p := time_problem(f"events[{i}].occurred_at", event_time(at))):
            problems.append(p)
        kind = event.get("event_type")
        for attr in REQUIRED_ATTRIBUTES.get(kind, ()) if isinstance(kind, str) else ():
            if event.get(attr) is None:
                problems.append(f"events[{i}].{attr}: {kind} events need {attr}")
    return problems
