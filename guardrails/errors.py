"""Outcome types of a refused request: one class per outcome, so a caller (the HTTP service, the
command line) picks its answer by the exception's type, never by reading its message.

Domain errors subclass the outcome they are (``ReviewSettledError`` is a ``ConflictError``,
``LedgerUnavailableError`` an ``UnavailableError``); ``serving.errors`` maps each outcome to
one HTTP status in a single table.
"""

from __future__ import annotations

from collections.abc import Sequence

from features.errors import LoyaltyError


class RefusedError(LoyaltyError):
    """A request refused for a reason the caller can act on; ``problems`` name the fields."""

    def __init__(self, message: str = "", problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)


class NotFoundError(RefusedError):
    """What the request names does not exist (or is not the caller's to see)."""


class ForbiddenError(RefusedError):
    """The caller is known but may not do this (its token lacks the scope the action needs)."""


class ConflictError(RefusedError):
    """The request clashes with the current state: settled already, a key reused with another
    payload, a race with another caller lost."""


class InvalidInputError(RefusedError):
    """Well-formed, but a field breaks a rule (feature contract, time range, event schema)."""


class UnavailableError(RefusedError):
    """A store the request needs cannot answer now; the same request may work later."""
