"""``loyalty features materialize``: the latest features into the online store the service reads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from loyalty.commands._common import console, handle_errors
from loyalty.errors import InputError

app = typer.Typer(help="Online features for the decision service.", no_args_is_help=True)


@app.command("materialize")
@handle_errors
def materialize(
    events: Annotated[
        Path, typer.Option("--events", help="Event log: file, folder or simulate output.")
    ],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Compute features as of this time (default: just after the last event)."
        ),
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option("--reference", help="Folder of customers/partners/contracts tables."),
    ] = None,
) -> None:
    """Compute every customer's features as of T with the dataset builder's code and store them."""
    materialize_features(events, as_of, reference)


def materialize_features(events: Path, as_of: str | None, reference: Path | None) -> Path:
    """The work behind the command (the demo calls it too); returns the embedded store's path
    (where it is, or would be: with Redis configured the snapshot goes there instead)."""
    import pandas as pd

    from features.contract import contract_for
    from features.customer import compute_features
    from features.definitions import FEATURE_NAMES, UNUSED_EVENT_COLUMNS
    from features.durations import DurationError, parse_timestamp
    from features.io import load_events, load_references
    from features.online_store import FILE_NAME, FeatureStoreUnavailableError
    from features.timeline import Timeline
    from loyalty.settings import load_settings
    from serving.feature_store import write_store

    with console.status("reading and validating the event log"):
        log = load_events(events).drop(columns=list(UNUSED_EVENT_COLUMNS))
        refs, _ = load_references(Path(events), reference)
    if not len(log):
        raise InputError("the event log is empty: nothing to materialise")
    try:
        t = (
            parse_timestamp(as_of)
            if as_of
            else log["occurred_at"].max() + pd.Timedelta(microseconds=1)
        )
    except DurationError as exc:
        raise InputError(str(exc)) from exc
    with console.status(f"computing features as of {t.isoformat()}"):
        timeline = Timeline(log)
        frame = compute_features(timeline, timeline.customers.to_numpy(), t, refs)
    contract = contract_for(list(FEATURE_NAMES), frame)
    settings = load_settings()
    try:
        rows, where = write_store(settings, frame, contract, t)
    except (ValueError, FeatureStoreUnavailableError) as exc:
        raise InputError(str(exc)) from exc
    console.print(
        f"materialised {rows:,} customers as of {t.isoformat()} into {where}",
        soft_wrap=True,
        markup=False,
    )
    console.print(f"feature contract {contract.version} ({contract.hash})")
    return settings.home / FILE_NAME
