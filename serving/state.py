"""The online intake state the service reads before each decision and writes on ``/events``.

It lives in the ledger database (see :mod:`guardrails.intake`), so every worker and every host
sharing that database sees an event from its next decision on.
"""

from guardrails.intake import CustomerState, OnlineState, StateUnavailableError

__all__ = ["CustomerState", "OnlineState", "StateUnavailableError"]
