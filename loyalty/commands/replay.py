"""``loyalty replay``: stream a stretch of an event log to the decision service as the
orchestrator would (``serving/replay_run.py`` runs it with the client an integrator copies,
``serving/replay_client.py``); this command parses, draws the progress and prints the report."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import Progress

from features.errors import InputError
from loyalty.commands._common import console, handle_errors

if TYPE_CHECKING:
    from serving.replay_plan import Plan

TOKEN_ENV = "LOYALTY_REPLAY_TOKEN"


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
    from serving.replay_run import ReplayOptions, run_replay

    opts = ReplayOptions(concurrency, since, until, last, limit, retries, redeem_window)
    report = run_replay(events, url, token, opts, progress=ConsoleProgress())
    print_report(report)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2, default=str) + "\n")
        console.print(f"report: {out}")


class ConsoleProgress:
    """A replay drawn on the console: a status while the log is read, the plan, a progress bar
    of decisions (``serving.replay_run.ReplayProgress``)."""

    def reading(self, events: Path) -> Any:
        return console.status(f"reading {events}")

    def planned(self, plan: Plan, url: str) -> None:
        console.print(
            f"replaying {plan.decisions:,} decision points and {plan.events:,} events from "
            f"{plan.since.isoformat()} to {plan.until.isoformat()} against {url}"
        )

    def not_ready(self, status: int) -> None:
        console.print(f"[yellow]the service is up but not ready (/readyz {status})[/]")

    @contextmanager
    def decisions(self, total: int) -> Iterator[Callable[[int], None]]:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task("decisions", total=total)
            yield lambda n: bar.advance(task, n)


def print_report(report: dict) -> None:
    from loyalty.commands._replay_report import render

    for table in render(report):
        console.print(table)
