"""``loyalty simulate``: the synthetic OEM loyalty ecosystem."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach the simulate command (filled in by the simulator work)."""
