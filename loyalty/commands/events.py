"""``loyalty events ...``: the canonical event log."""

from __future__ import annotations

import typer

app = typer.Typer(help="Check event logs against the canonical schema.", no_args_is_help=True)
