"""A customer's consent record, kept apart from their features so that it can be read first.

What each consent scope permits is the table in docs/privacy.md. The service reads this record
(whose customer, one flag per scope) on its own, decides from it whether the customer's data may
be used at all, and only then reads features or runs a model. Flags are 1 granted, 0 withdrawn,
-1 not known, as of the snapshot; consent events received since override them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

# the consent record's fields: whose customer (the partner of the latest enrolment) and the
# flag of each consent scope
CONSENT_FIELDS: tuple[str, ...] = ("partner_id", "consent_marketing", "consent_data_sharing")
SCOPES: dict[str, str] = {
    "data_sharing": "use of the customer's data (their own partner unless withdrawn; the "
    "contract's data-sharing partners only when granted): features, scores, decisions",
    "marketing": "offers and the contacts that carry them, where the contract requires it",
}


def consent_record(values: Mapping[str, Any]) -> dict[str, Any]:
    """The consent fields of a row of values (missing ones: None, not known)."""
    return {name: values.get(name) for name in CONSENT_FIELDS}


def consent_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``customer_id`` and the consent record's fields present in ``frame``: what the online
    store keeps for every customer, withdrawn or not."""
    return frame[["customer_id", *(n for n in CONSENT_FIELDS if n in frame.columns)]]
