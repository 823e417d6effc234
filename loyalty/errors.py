"""Errors the command line turns into a clear message and an exit code (see shared CLI contract).

Defined in features.errors (the bottom layer, so features/ imports nothing of ours) and re-exported
here for the commands; library packages import them from features.errors (nothing imports
``loyalty``: `make lint` checks it).
"""

from __future__ import annotations

from features.errors import InputError, LoyaltyError

__all__ = ["InputError", "LoyaltyError"]
