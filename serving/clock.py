"""The service's clock: the real one, or one pinned for replays of a simulated log.

Decisions reserve only in their contract's current period by this clock, so replaying a log
from 2025 needs the clock set to the log's time: ``loyalty serve --clock-at TIME|log-end``. A
pinned clock starts at that time and runs on in real time; holds still expire by the real
clock. It is refused unless ``LOYALTY_ALLOW_TEST_CLOCK=1``: a production service never moves
its clock.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from features.errors import InvalidInputError

LOG_END = "log-end"


class TestClockRefusedError(InvalidInputError):
    """A pinned clock was asked for without LOYALTY_ALLOW_TEST_CLOCK=1, or its time is bad."""


def pinned_start(text: str, log_end: dt.datetime | None) -> dt.datetime:
    """The time a pinned clock starts at: an ISO time, or the log's end."""
    if text == LOG_END:
        if log_end is None:
            raise TestClockRefusedError(
                "--clock-at log-end needs a feature snapshot (its time is the log's end): "
                "run `loyalty features materialize` first"
            )
        return log_end
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise TestClockRefusedError(
            f"--clock-at: {text!r} is neither an ISO time (2025-06-30T12:00:00Z) nor 'log-end'"
        ) from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def check_allowed(clock_at: str | None, allowed: bool) -> None:
    """Refuse a pinned clock unless the test-clock switch is on."""
    if clock_at and not allowed:
        raise TestClockRefusedError(
            f"--clock-at {clock_at} pins the service's clock, which only a test or replay "
            "set-up may do: set LOYALTY_ALLOW_TEST_CLOCK=1 to allow it"
        )


def pinned(
    start: dt.datetime, real: Callable[[], float] = time.time, anchor: float | None = None
) -> Callable[[], float]:
    """A clock that read ``start`` at the real time ``anchor`` (default: now) and runs on in
    real time."""
    offset = start.timestamp() - (real() if anchor is None else anchor)
    return lambda: real() + offset
