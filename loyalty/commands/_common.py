"""Shared plumbing for commands: the consoles they print to, error reporting and exit codes."""

from __future__ import annotations

import functools
import getpass
from collections.abc import Callable, Iterable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.table import Column

from loyalty.errors import LoyaltyError

P = ParamSpec("P")
R = TypeVar("R")

LOG_WIDTH = 200  # columns when the output is not a terminal and COLUMNS is not set


class LogConsole(Console):
    """A terminal's own width; elsewhere (a log, a pipe, CI, a test runner) ``COLUMNS`` if set,
    else ``LOG_WIDTH``, instead of rich's 80 columns that cut table figures ("0.80...") and
    wrap commands and paths. Decided at each print: the output stream can change (CliRunner)."""

    @property
    def size(self) -> ConsoleDimensions:
        found = super().size
        columns = self._environ.get("COLUMNS", "")
        if self._width is None and not columns.isdigit() and not _is_tty(self.file):
            return ConsoleDimensions(LOG_WIDTH, found.height)
        return found

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


def _is_tty(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


err_console = LogConsole(stderr=True)
console = LogConsole()


def whole(header: str, cells: Iterable[str], justify: str = "left") -> Column:
    """A table column whose short plain-text cells (ids, names, figures) are shown whole: never
    wrapped, never cut to "..." (a terminal too narrow for the table crops its right edge
    instead). Sentences and paths belong in columns that may wrap (``overflow="fold"``)."""
    widest = max((len(cell) for cell in cells), default=0)
    return Column(
        header, justify=justify, no_wrap=True, overflow="fold", min_width=max(widest, len(header))
    )  # type: ignore[arg-type]


def print_verbatim(text: str) -> None:
    """A line holding commands or paths, printed as is: no wrapping, no markup, no colour."""
    console.print(text, soft_wrap=True, markup=False, highlight=False)


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


def operator_identity() -> str:
    """Who runs a command, as its audit records name them: the configured ``LOYALTY_OPERATOR``,
    else the operating-system login marked as such (``os:NAME``). Never a name typed per
    command: an identity is configured once, like a service token's name."""
    from loyalty.settings import load_settings

    configured = (load_settings().operator or "").strip()
    if configured:
        return configured
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "os:unknown"
