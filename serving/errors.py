"""The one table that turns a refused request's outcome type into its HTTP status.

Every route answers a refusal through ``status_of``: the status follows the exception's type
(``features.errors``), never its message. An exception that matches no row is a server
error (500, with its traceback in the log).
"""

from __future__ import annotations

from features.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RefusedError,
    UnavailableError,
)

STATUS_BY_OUTCOME: tuple[tuple[type[RefusedError], int], ...] = (
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (InvalidInputError, 422),
    (UnavailableError, 503),
)


def status_of(exc: BaseException | None) -> int | None:
    """The HTTP status of a refusal, or None for anything else (a server error)."""
    for outcome, status in STATUS_BY_OUTCOME:
        if isinstance(exc, outcome):
            return status
    return None


def refusal_body(exc: BaseException) -> dict:
    """``{"error", "problems"}``: the message and the field-level problems, if any."""
    problems = getattr(exc, "problems", None) or []
    return {"error": str(exc) or type(exc).__name__, "problems": list(problems)}
