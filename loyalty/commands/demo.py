"""``loyalty demo``: the whole loop on embedded defaults, in the data home.

simulate -> validate -> training sets -> train and register (challenger) -> contract policies
into the policy store -> drift report per challenger -> promotion gate -> promote -> materialise
features -> ``loyalty serve`` on a free local port (tokens made at run time, 0600 file) ->
replay a stretch of orchestrator traffic -> stop the service -> a summary read from the stores.

A rerun reuses what exists: the same simulation, training sets and registered models; a version
already promoted (or already gated) is not gated again; a policy already active is not stored
again; the replay uses the same idempotency keys, so recorded decisions are answered again
(``replayed``) and nothing is reserved twice. The policies go in before the gate so that its
guardrail replay check runs against them. When a kind has no champion (its first model failed
the gate), the service cannot start; the demo says so and ends with the summary.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from loyalty.commands._common import console, handle_errors, print_verbatim

DEMO_CUSTOMERS = 20_000
STEPS = 10


def demo(
    customers: Annotated[
        int, typer.Option("--customers", help="Customers to simulate.")
    ] = DEMO_CUSTOMERS,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
    fresh: Annotated[bool, typer.Option("--fresh", help="Regenerate even if data exists.")] = False,
    replay: Annotated[
        int, typer.Option("--replay", min=0, help="Decision points to replay (0: no service).")
    ] = 400,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, help="Replay concurrency.")
    ] = 4,
    gate_config: Annotated[
        Path | None,
        typer.Option("--gate-config", help="YAML merged over the shipped gate thresholds."),
    ] = None,
) -> None:
    """Run the whole loop and leave champions, active policies, a ledger and reports behind."""
    from loyalty.commands import _demo_data as data
    from loyalty.commands._demo_data import DemoConfig, Steps
    from loyalty.settings import load_settings

    started = time.perf_counter()
    settings = load_settings()
    cfg = DemoConfig(customers, seed, fresh, replay, concurrency, gate_config)
    step = Steps(STEPS)
    events, manifest, reused = data.ecosystem(cfg, settings, step)
    data.validate(events, step)
    datasets = settings.demo_dir / "datasets"
    data.datasets(cfg, events, datasets, reused, step)
    data.train(datasets, settings, step)
    notes = _govern_and_serve(cfg, settings, events, datasets, reused, step)
    _summary(settings, events, manifest, notes, time.perf_counter() - started)


def _govern_and_serve(cfg, settings, events, datasets, reused: bool, step) -> list[str]:
    """Policies, drift, gate, features, then serve and replay when every kind has a champion."""
    from loyalty.commands import _demo_data as data
    from loyalty.commands._demo_models import apply_policies, govern
    from loyalty.commands._demo_serve import serve_and_replay
    from monitoring.registry import connect

    apply_policies(events, step)
    reports = settings.home / "reports" / "demo"
    governance = govern(settings, datasets, reports, step, cfg.gate_config)
    data.materialize(events, settings, reused, step)
    missing = governance.champions_missing(connect(settings.tracking_uri), settings)
    notes = []
    if missing:
        notes.append(
            f"[bold yellow]no champion for {', '.join(missing)}[/] (no model could be trained, "
            "or the first one failed the gate): the service needs a champion of every kind, so "
            "it was not started and no traffic was replayed. See the training and gate output "
            "above, and `loyalty promote KIND --dataset ... --dry-run`."
        )
        step("serving skipped (a kind has no champion)")
        step("replay skipped")
    elif cfg.replay_limit == 0:
        step("serving skipped (--replay 0)")
        step("replay skipped")
    else:
        report = serve_and_replay(settings, events, cfg, step)
        notes.append(f"replay report: {report['report_path']}")
    return notes


def _summary(settings, events, manifest, notes: list[str], seconds: float) -> None:
    from loyalty.commands._demo_summary import read_figures, render
    from loyalty.commands._sim_report import render_summary

    render_summary(console, events, manifest)
    figures = read_figures(settings)
    console.rule("Summary (read back from the registry, ledger, audit trail and report files)")
    render(figures, notes)
    reports = figures["reports"]
    print_verbatim(f"reports ({len(reports)} files) under {settings.home / 'reports'}; the demo's:")
    for path in (p for p in reports if "/reports/demo/" in p):
        print_verbatim(f"    {path}")
    print_verbatim(f"ecosystem: {events}   data home: {settings.home.resolve()}")
    print_verbatim(f"done in {seconds:.0f} s; {serve_line(settings, figures['models'])}")


def serve_line(settings, models: dict) -> str:
    """Whether ``loyalty serve`` can start on this data home, and what to run when it cannot."""
    missing = [kind for kind, aliases in models.items() if not aliases["champion"]]
    if not missing:
        return "`loyalty serve` can start on this data home at once"
    datasets = settings.demo_dir / "datasets"
    first = missing[0]
    return (
        f"`loyalty serve` cannot start: no champion for {', '.join(missing)}. Promote one "
        f"(`loyalty promote {first} --dataset {datasets} --dry-run` shows the gate's verdict), or "
        "rerun `loyalty demo --gate-config FILE` with thresholds the models can meet"
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(handle_errors(demo))
