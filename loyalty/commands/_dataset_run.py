"""The work behind ``loyalty dataset build``: read, build, attach the oracle, write."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from features.errors import InputError


def _spec(as_of: list[str], horizon: str, offer_window: str, active_within: str):
    from features.dataset import DatasetSpec
    from features.durations import DurationError, parse_duration, parse_timestamp

    try:
        return DatasetSpec(
            as_of=tuple(sorted(parse_timestamp(t) for t in as_of)),
            horizon_days=parse_duration(horizon),
            offer_window_days=parse_duration(offer_window),
            active_within_days=parse_duration(active_within),
        )
    except DurationError as exc:
        raise InputError(str(exc)) from exc


def run_build(
    events: Path,
    as_of,
    out: Path,
    horizon,
    offer_window,
    active_within,
    reference,
    force: bool,
    console: Console,
) -> None:
    from features.dataset import DatasetError, build_datasets
    from features.definitions import UNUSED_EVENT_COLUMNS
    from features.io import load_events, load_references
    from features.output import write_datasets

    spec = _spec(as_of, horizon, offer_window, active_within)
    if out.exists() and any(out.iterdir()) and not force:
        raise InputError(f"{out} exists and is not empty; pass --force to replace it")
    with console.status("reading and validating the event log"):
        log = load_events(events).drop(columns=list(UNUSED_EVENT_COLUMNS))
        refs, offers = load_references(Path(events), reference)
    with console.status(f"building features and labels for {len(spec.as_of)} snapshot(s)"):
        try:
            datasets = build_datasets(log, spec, refs, offers)
        except DatasetError as exc:
            raise InputError(str(exc)) from exc
    oracle = _oracle(Path(events), datasets, spec)
    write_datasets(datasets, out, oracle=oracle, force=force)
    _report(console, datasets, out, oracle is not None)


def _oracle(events: Path, datasets, spec):
    if not (events / "truth" / "customers.parquet").exists():
        return None
    from simulator.oracle import oracle_frames
    from simulator.truth import Truth

    return oracle_frames(datasets, spec, Truth.load(events))


def _report(console: Console, datasets, out: Path, with_oracle: bool) -> None:
    table = Table(title=f"Datasets in {out}")
    for col in ("kind", "rows", "positives", "rate", "dropped (immature)"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    for kind, counts in datasets.counts.items():
        rows, pos = counts["rows"], counts["positives"]
        dropped = counts.get("immature_rows", counts.get("immature_snapshots", 0))
        table.add_row(kind, f"{rows:,}", f"{pos:,}", f"{pos / max(rows, 1):.3f}", f"{dropped:,}")
    console.print(table)
    if with_oracle:
        console.print("oracle.parquet written beside each kind's data (simulator truth)")
