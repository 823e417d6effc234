"""Errors the command line turns into a clear message and an exit code (see shared CLI contract).

Defined in features.errors (the bottom layer, so features/ imports nothing of ours) and re-exported
here for the commands and the other packages.
"""

from __future__ import annotations

from features.errors import InputError, LoyaltyError

__all__ = ["InputError", "LoyaltyError"]
