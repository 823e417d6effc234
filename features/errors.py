"""Errors a user can act on. They live in the bottom layer so that features/ imports nothing of
ours; the command line (loyalty.errors re-exports them) turns them into a message and exit code."""

from __future__ import annotations


class LoyaltyError(Exception):
    """A failure the user can act on: bad arguments, missing files, unreachable store (exit 2)."""

    exit_code = 2


class InputError(LoyaltyError):
    """The input exists but cannot be used as given; the message names what and where."""
