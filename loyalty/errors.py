"""Errors the command line turns into a clear message and an exit code (see shared CLI contract)."""

from __future__ import annotations


class LoyaltyError(Exception):
    """A failure the user can act on: bad arguments, missing files, unreachable store (exit 2)."""

    exit_code = 2


class InputError(LoyaltyError):
    """The input exists but cannot be used as given; the message names what and where."""
