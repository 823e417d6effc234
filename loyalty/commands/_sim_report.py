"""Progress and the human summary of a simulated ecosystem (read back from what was written)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from simulator.config import SimConfig


def run_with_progress(cfg: SimConfig, out: Path, force: bool) -> dict:
    from simulator.run import simulate

    columns = (
        TextColumn("[bold]simulating[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("chunks"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("chunks", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return simulate(cfg, out, force=force, progress=update)


def render_summary(console: Console, out: Path, manifest: dict) -> None:
    """Print what was generated, with the realism figures computed from the files themselves."""
    from simulator.summary import summarize

    stats = summarize(out)
    head = Table(title=f"Synthetic ecosystem in {out}", show_header=False)
    head.add_row("customers", f"{manifest['customers']:,}")
    head.add_row(
        "history", f"{manifest['start']} to {manifest['end']} ({manifest['months']} months)"
    )
    head.add_row("events", f"{manifest['events']:,}")
    head.add_row(
        "partners / contracts / offers",
        f"{len(manifest['partners'])} / {len(manifest['contracts'])} / {manifest['offers']}",
    )
    head.add_row("campaigns", f"{manifest['campaigns']}")
    scen = (
        ", ".join(f"{s['name']} from {s['starts'][:10]}" for s in manifest["scenarios"]) or "none"
    )
    head.add_row("scenarios", scen)
    console.print(head)
    types = Table(title="Events by type")
    types.add_column("event_type")
    types.add_column("count", justify="right")
    for name, count in sorted(manifest["event_counts"].items(), key=lambda kv: -kv[1]):
        types.add_row(name, f"{count:,}")
    console.print(types)
    real = Table(title="Realism (from the files written)")
    real.add_column("figure")
    real.add_column("value", justify="right")
    for name, value in stats.items():
        real.add_row(name, value if isinstance(value, str) else f"{value:.3f}")
    console.print(real)
    console.print(f"policies: {out / 'policies'}   truth: {out / 'truth'} (never features)")
