"""``loyalty demo``: the main job end to end on embedded defaults.

At this stage the loop is: simulate a small ecosystem into the data home (reused when the same
configuration already exists there), validate its event log against the canonical schema, build
the point-in-time training sets for the three model kinds, train and register the three models
as challengers (reused when the registry already holds models trained on these sets), materialise
the latest features into the online store, and print a summary read back from the files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from loyalty.commands._common import console, handle_errors

DEMO_CUSTOMERS = 20_000
DEMO_SCENARIOS = ("product_launch",)
# quarterly, so the holdout's season (September) was seen a year earlier in training
DEMO_SNAPSHOTS = ("2024-09-01", "2024-12-01", "2025-03-01", "2025-06-01", "2025-09-01")
STEPS = 5


def demo(
    customers: Annotated[
        int, typer.Option("--customers", help="Customers to simulate.")
    ] = DEMO_CUSTOMERS,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
    fresh: Annotated[bool, typer.Option("--fresh", help="Regenerate even if data exists.")] = False,
) -> None:
    """Simulate, validate and summarise a loyalty ecosystem in the data home."""
    from loyalty.commands._sim_report import render_summary, run_with_progress
    from loyalty.settings import load_settings
    from simulator.config import make_config

    settings = load_settings()
    out = settings.demo_dir / "ecosystem"
    cfg = make_config(customers, seed=seed, scenarios=list(DEMO_SCENARIOS))
    manifest = _existing(out, cfg)
    reused = manifest is not None and not fresh
    if reused:
        console.print(f"[bold]1/{STEPS}[/] reusing the ecosystem in {out} (same configuration)")
    else:
        console.print(f"[bold]1/{STEPS}[/] simulating {customers:,} customers into {out}")
        out.parent.mkdir(parents=True, exist_ok=True)
        manifest = run_with_progress(cfg, out, force=True)
    console.print(f"[bold]2/{STEPS}[/] validating the event log against the canonical schema")
    _validate(out)
    datasets = settings.demo_dir / "datasets"
    _datasets(out, datasets, reuse=reused)
    _train(datasets, settings)
    console.print(f"[bold]5/{STEPS}[/] materialising the latest features into the online store")
    from loyalty.commands.features import materialize_features

    materialize_features(out, None, None)
    render_summary(console, out, manifest)
    console.print(
        f"training sets: {datasets}   online features: {settings.home / 'online_features.db'}"
    )


def _datasets(events: Path, datasets: Path, reuse: bool) -> None:
    """Churn, propensity and risk training sets at the demo snapshots (kept on a rerun)."""
    if reuse and _built_at(datasets) == list(DEMO_SNAPSHOTS):
        console.print(f"[bold]3/{STEPS}[/] reusing the training sets in {datasets}")
        return
    from loyalty.commands._dataset_run import run_build

    console.print(
        f"[bold]3/{STEPS}[/] building training sets at {', '.join(DEMO_SNAPSHOTS)} (horizon 90d)"
    )
    run_build(events, list(DEMO_SNAPSHOTS), datasets, "90d", "14d", "365d", None, True, console)


def _built_at(datasets: Path) -> list[str] | None:
    """The snapshot dates an existing dataset folder was built at (None: no usable folder)."""
    path = datasets / "summary.json"
    if not path.exists():
        return None
    spec = json.loads(path.read_text()).get("spec") or {}
    return [t[:10] for t in spec.get("as_of", [])] or None


def _train(datasets: Path, settings) -> None:
    """Train the three kinds unless the registry already holds challengers built from these
    exact training sets (same feature contracts, same dataset folder)."""
    from loyalty.commands._train_run import existing_challengers, run_training

    found = existing_challengers(datasets, settings)
    missing = [k for k in ("churn", "propensity", "risk") if k not in found]
    if found:
        console.print(f"[bold]4/{STEPS}[/] reusing registered models: {', '.join(found.values())}")
    if missing:
        console.print(
            f"[bold]4/{STEPS}[/] training {', '.join(missing)}; registering as challenger"
        )
        run_training(datasets, missing, None, False, None, console, keep_going=True)


def _existing(out: Path, cfg) -> dict | None:
    """The manifest of a previous run with exactly this configuration, if there is one."""
    path = out / "manifest.json"
    if not path.exists():
        return None
    manifest = json.loads(path.read_text())
    from simulator.run import GENERATOR_VERSION

    same = (
        manifest.get("generator_version") == GENERATOR_VERSION
        and manifest.get("customers") == cfg.customers
        and manifest.get("seed") == cfg.seed
        and [s["name"] for s in manifest.get("scenarios", [])] == [s.name for s in cfg.scenarios]
    )
    return manifest if same else None


def _validate(out: Path) -> None:
    from features.io import read_events
    from loyalty.errors import LoyaltyError

    _, report = read_events(out)
    if not report.ok:
        raise LoyaltyError(f"the simulated log failed validation:\n{report.to_text()}")
    console.print(
        f"    {report.rows_valid:,} valid events, {report.duplicates_dropped} duplicates dropped"
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(handle_errors(demo))
