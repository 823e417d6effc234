"""``loyalty events ...``: the canonical event log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from features.schema import ALL_TABLES  # pure declarations: cheap to import
from loyalty.commands._common import console, handle_errors
from loyalty.errors import InputError

app = typer.Typer(help="Check event logs against the canonical schema.", no_args_is_help=True)

TABLES = tuple(ALL_TABLES)


@app.command("validate")
@handle_errors
def validate(
    path: Annotated[
        Path,
        typer.Argument(
            help="CSV or Parquet file, a folder of them, or a `loyalty simulate` output folder."
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON instead of text.")
    ] = False,
    table: Annotated[
        str,
        typer.Option(help=f"Which canonical table PATH holds: {', '.join(TABLES)}."),
    ] = "events",
    max_examples: Annotated[
        int, typer.Option(min=1, help="Offending rows shown per failed check.")
    ] = 20,
) -> None:
    """Check an event log (or a reference table) against the canonical schema.

    Exit 0 when valid, 1 when invalid (each problem names its row, column and value),
    2 when PATH cannot be read. Nothing is written.
    """
    from features.io import read_events, read_reference

    if table not in TABLES:
        raise InputError(f"unknown table {table!r}; choose one of: {', '.join(TABLES)}")
    if table == "events":
        _, report = read_events(path, max_examples=max_examples)
    else:
        _, report = read_reference(path, table, max_examples=max_examples)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        style = "bold green" if report.ok else "bold red"
        text = report.to_text()
        head, _, rest = text.partition("\n")
        console.print(head, style=style, markup=False, highlight=False, soft_wrap=True)
        if rest:
            console.print(rest, markup=False, highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(code=1)
