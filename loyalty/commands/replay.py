"""``loyalty replay``: stream a stretch of an event log to the decision service as the
orchestrator would (see ``serving/replay_client.py`` for the client an integrator copies)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from loyalty.commands._common import console, handle_errors
from loyalty.errors import InputError

TOKEN_ENV = "LOYALTY_REPLAY_TOKEN"


@dataclass(frozen=True)
class ReplayOptions:
    concurrency: int = 4
    since: str | None = None
    until: str | None = None
    last: str = "7d"
    limit: int | None = None
    retries: int = 5
    redeem_window: str = "30d"
    timeout_s: float = 30.0


def register(app: typer.Typer) -> None:
    app.command("replay")(replay)


Opt = typer.Option
EventsOpt = Annotated[Path, Opt("--events", help="Event log: file, folder or simulate output.")]
UrlOpt = Annotated[str, Opt("--url", help="The service, e.g. http://127.0.0.1:3000.")]
ConcOpt = Annotated[int, Opt("--concurrency", min=1, max=256, help="Decisions in flight.")]
SinceOpt = Annotated[str | None, Opt("--since", help="Stretch start (default: until - last).")]
UntilOpt = Annotated[str | None, Opt("--until", help="Stretch end (default: after the log).")]
LastOpt = Annotated[str, Opt("--last", help="Stretch length without --since (e.g. 7d).")]
LimitOpt = Annotated[int | None, Opt("--limit", min=1, help="At most N decision points.")]
RetriesOpt = Annotated[int, Opt("--retries", min=0, max=20, help="Retries per call.")]
WindowOpt = Annotated[str, Opt("--redeem-window", help="Commit offers redeemed within this.")]
TokenOpt = Annotated[str, Opt("--token-env", help="Variable holding the bearer token.")]
OutOpt = Annotated[Path | None, Opt("--out", help="Also write the report as JSON.")]


@handle_errors
def replay(
    events: EventsOpt,
    url: UrlOpt,
    concurrency: ConcOpt = 4,
    since: SinceOpt = None,
    until: UntilOpt = None,
    last: LastOpt = "7d",
    limit: LimitOpt = None,
    retries: RetriesOpt = 5,
    redeem_window: WindowOpt = "30d",
    token_env: TokenOpt = TOKEN_ENV,
    out: OutOpt = None,
) -> None:
    """Replay a stretch of orchestrator traffic: /decide per purchase or service visit (key
    replay-<event_id>), consent/offer/redemption events to /events, commit what the customer
    redeemed, cancel the rest; report outcomes, latency, retries and budget per contract.

    Exit 0 when done, 2 on bad arguments, a missing token or an unreachable service.
    """
    token = os.environ.get(token_env)
    if not token:
        raise InputError(f"no bearer token: set {token_env} (an orchestrator-scope token)")
    opts = ReplayOptions(concurrency, since, until, last, limit, retries, redeem_window)
    report = run_replay(events, url, token, opts)
    print_report(report)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2, default=str) + "\n")
        console.print(f"report: {out}")


def run_replay(events: Path, url: str, token: str, opts: ReplayOptions, transport=None) -> dict:
    """Plan the stretch, check the service answers, replay with progress; the report as a dict."""
    import asyncio
    import time

    from serving.replay_client import ReplayClient, ReplayError, RetryPolicy
    from serving.replay_plan import build_plan, load_log

    stretch = _stretch(opts)
    client = ReplayClient(
        url,
        token,
        concurrency=opts.concurrency,
        retry=RetryPolicy(attempts=opts.retries + 1),
        redeem_window_s=_days(opts.redeem_window) * 86_400.0,
        transport=transport,
        timeout_s=opts.timeout_s,
    )
    with console.status(f"reading {events}"):
        plan = build_plan(load_log(events), stretch, slice_size=max(32, opts.concurrency * 8))
    console.print(
        f"replaying {plan.decisions:,} decision points and {plan.events:,} events from "
        f"{plan.since.isoformat()} to {plan.until.isoformat()} against {url}"
    )
    started = time.perf_counter()
    try:
        asyncio.run(_run(client, plan))
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


async def _run(client, plan) -> None:
    from rich.progress import Progress

    health = await client.ready()
    if not health["ready"]:
        console.print(f"[yellow]the service is up but not ready (/readyz {health['status']})[/]")
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("decisions", total=plan.decisions)
        await client.run(plan.slices, lambda n: bar.advance(task, n))


def _error(exc: Exception, url: str) -> InputError:
    from serving.replay_client import AccessRefusedError

    if isinstance(exc, AccessRefusedError):
        return InputError(f"the service refused the token: {exc} (use an orchestrator token)")
    return InputError(f"the service at {url} is unreachable: {exc} (is `loyalty serve` running?)")


def _stretch(opts: ReplayOptions):
    import pandas as pd

    from features.durations import DurationError, parse_timestamp
    from serving.replay_plan import Stretch

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
    from features.durations import DurationError, parse_duration

    try:
        return parse_duration(text)
    except DurationError as exc:
        raise InputError(str(exc)) from exc


def print_report(report: dict) -> None:
    from loyalty.commands._replay_report import render

    for table in render(report):
        console.print(table)
