"""Shared plumbing for commands: error reporting and exit codes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from loyalty.errors import LoyaltyError

P = ParamSpec("P")
R = TypeVar("R")

err_console = Console(stderr=True)
console = Console()


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a LoyaltyError into a one-line message on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except LoyaltyError as exc:
            err_console.print(
                f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True, highlight=False
            )
            raise typer.Exit(code=exc.exit_code) from exc

    return wrapper
