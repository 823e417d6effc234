"""Errors a user or a caller can act on. They live in the bottom layer so that features/ imports
nothing of ours and every layer above raises the same types: the command line (loyalty.errors
re-exports the first two) turns them into a message and exit code, the HTTP service
(``serving.errors``) maps each outcome type to one status.
"""

from __future__ import annotations

from collections.abc import Sequence


class LoyaltyError(Exception):
    """A failure the user can act on: bad arguments, missing files, unreachable store (exit 2)."""

    exit_code = 2


class InputError(LoyaltyError):
    """The input exists but cannot be used as given; the message names what and where."""


# -- outcomes of a refused request ---------------------------------------------------------------
# One class per outcome, so a caller picks its answer by the exception's type, never by reading
# its message. Domain errors subclass the outcome they are (``ReviewSettledError`` is a
# ``ConflictError``, ``LedgerUnavailableError`` and ``FeatureStoreUnavailableError`` are
# ``UnavailableError``s).


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
