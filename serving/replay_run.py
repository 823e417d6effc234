"""A replay of orchestrator traffic against the decision service, start to report.

Plans a stretch of an event log (``serving.replay_plan``), checks the service answers, drives it
with the reference orchestrator client (``serving.replay_client``) and returns the report as
plain data. What the run says while it goes (reading, the plan, a progress bar) is the caller's:
``loyalty replay`` and the demo draw it on the console, tests stay quiet.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
import pandas as pd

from features.durations import DurationError, parse_duration, parse_timestamp
from features.errors import InputError
from serving.replay_client import AccessRefusedError, ReplayClient, ReplayError, RetryPolicy
from serving.replay_plan import Plan, Stretch, build_plan, load_log


@dataclass(frozen=True)
class ReplayOptions:
    """How much to replay and how hard to push (durations as text: ``7d``, ``12h``)."""

    concurrency: int = 4
    since: str | None = None
    until: str | None = None
    last: str = "7d"
    limit: int | None = None
    retries: int = 5
    redeem_window: str = "30d"
    timeout_s: float = 30.0


class ReplayProgress(Protocol):
    """What a replay tells its caller while it runs."""

    def reading(self, events: Path) -> AbstractContextManager[Any]: ...

    def planned(self, plan: Plan, url: str) -> None: ...

    def not_ready(self, status: int) -> None: ...

    def decisions(self, total: int) -> AbstractContextManager[Callable[[int], None]]: ...


class QuietProgress:
    """Says nothing (a library caller, a test)."""

    def reading(self, events: Path) -> AbstractContextManager[Any]:
        return nullcontext()

    def planned(self, plan: Plan, url: str) -> None:
        pass

    def not_ready(self, status: int) -> None:
        pass

    def decisions(self, total: int) -> AbstractContextManager[Callable[[int], None]]:
        return nullcontext(lambda n: None)


def run_replay(
    events: Path,
    url: str,
    token: str,
    opts: ReplayOptions,
    transport: httpx.AsyncBaseTransport | None = None,
    progress: ReplayProgress | None = None,
) -> dict:
    """Plan the stretch, check the service answers, replay; the report as a dict. Bad options
    and an unreachable or refusing service are an ``InputError`` that says what to do."""
    progress = progress or QuietProgress()
    stretch = replay_stretch(opts)
    client = ReplayClient(
        url,
        token,
        concurrency=opts.concurrency,
        retry=RetryPolicy(attempts=opts.retries + 1),
        redeem_window_s=_days(opts.redeem_window) * 86_400.0,
        transport=transport,
        timeout_s=opts.timeout_s,
    )
    with progress.reading(events):
        plan = build_plan(load_log(events), stretch, slice_size=max(32, opts.concurrency * 8))
    progress.planned(plan, url)
    started = time.perf_counter()
    try:
        asyncio.run(_run(client, plan, progress))
    except ReplayError as exc:
        raise _error(exc, url) from exc
    wall_s = round(time.perf_counter() - started, 2)
    return {
        **client.tally.summary(),
        **{"url": url, "events_path": str(events), "concurrency": opts.concurrency},
        **{"since": plan.since.isoformat(), "until": plan.until.isoformat(), "wall_s": wall_s},
        "decision_ids": sorted(client.tally.decisions),
        "decision_records": client.tally.decisions,
    }


async def _run(client: ReplayClient, plan: Plan, progress: ReplayProgress) -> None:
    health = await client.ready()
    if not health["ready"]:
        progress.not_ready(health["status"])
    with progress.decisions(plan.decisions) as advance:
        await client.run(plan.slices, advance)


def _error(exc: Exception, url: str) -> InputError:
    if isinstance(exc, AccessRefusedError):
        return InputError(f"the service refused the token: {exc} (use an orchestrator token)")
    return InputError(f"the service at {url} is unreachable: {exc} (is `loyalty serve` running?)")


def replay_stretch(opts: ReplayOptions) -> Stretch:
    """The stretch the options name; an ``InputError`` for a bad time, duration or order."""
    try:
        since = parse_timestamp(opts.since) if opts.since else None
        until = parse_timestamp(opts.until) if opts.until else None
        last = pd.Timedelta(days=_days(opts.last))
    except DurationError as exc:
        raise InputError(str(exc)) from exc
    if since is not None and until is not None and since >= until:
        raise InputError(f"--since {opts.since} is not before --until {opts.until}")
    return Stretch(since, until, last, opts.limit)


def _days(text: str) -> float:
    try:
        return parse_duration(text)
    except DurationError as exc:
        raise InputError(str(exc)) from exc
