"""The service's pure checks and its one status table, on literal values (milliseconds, no
data home): feature overrides, time range, events, partner labels, outcome type -> status."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

SPECS = (
    {"name": "visits", "dtype": "int", "min": 0.0, "max": None, "nullable": False},
    {"name": "spend", "dtype": "float", "min": 0.0, "max": 1000.0, "nullable": True},
    {"name": "tier", "dtype": "category", "categories": ["gold", "silver", "unknown"]},
)


@pytest.mark.parametrize(
    ("overrides", "problems"),
    [
        ({"visits": 3, "spend": 2.5, "tier": "gold"}, []),
        ({"visits": 2**53, "spend": None}, []),
        ({"visits": True}, ["features.visits: must be a number, not true"]),
        ({"spend": False}, ["features.spend: must be a number, not false"]),
        ({"visits": "3"}, ["features.visits: must be a number, not '3'"]),
        (
            {"visits": 10**400},
            [
                "features.visits: 100000000000... (401 characters) is too large: integers must "
                "lie within ±2**53"
            ],
        ),
        (
            {"spend": -(2**70)},
            [
                "features.spend: -1180591620717411303424 is too large: integers must lie "
                "within ±2**53"
            ],
        ),
        ({"spend": float("inf")}, ["features.spend: must be finite"]),
        ({"visits": 2.5}, ["features.visits: must be an integer"]),
        ({"spend": 1000.5}, ["features.spend: 1000.5 is above the maximum 1000.0"]),
        ({"visits": None}, ["features.visits: may not be null"]),
        (
            {"tier": "platinum"},
            ["features.tier: unknown level 'platinum'; levels: gold, silver, unknown"],
        ),
        ({"tier": 1}, ["features.tier: must be a string (category), not 1"]),
        ({"shoe_size": 42}, ["features.shoe_size: not a feature of contract version in use"]),
    ],
)
def test_feature_overrides_against_the_contract(overrides, problems):
    from serving.inputs import check_overrides

    assert check_overrides(overrides, SPECS) == problems


@pytest.mark.parametrize(
    ("when", "ok"),
    [
        (dt.datetime(1900, 1, 1, tzinfo=dt.UTC), True),
        (dt.datetime(2199, 12, 31, 23, 59), True),  # naive: UTC
        (dt.datetime(1899, 12, 31, 23, 59, tzinfo=dt.UTC), False),
        (dt.datetime(2200, 1, 1, tzinfo=dt.UTC), False),
        (dt.datetime(1, 1, 1, tzinfo=dt.UTC), False),
        (dt.datetime(9999, 12, 31, 23, tzinfo=dt.timezone(dt.timedelta(hours=-14))), False),
        (dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=14))), False),
    ],
)
def test_times_are_checked_without_overflowing_at_the_calendar_ends(when, ok):
    from serving.inputs import time_problem

    problem = time_problem("time", when)
    assert (problem is None) is ok
    if not ok:
        assert problem.startswith(f"time: {when.isoformat()} is outside the accepted range")


def test_events_need_what_the_file_validator_says_their_type_needs():
    from serving.inputs import check_events

    events = [
        {"event_type": "consent_changed", "consent_granted": False, "occurred_at": "2025-01-01"},
        {"event_type": "offer_sent", "partner_id": "P1", "contract_id": "C1"},
        {"event_type": "points_redeemed", "points": 5, "occurred_at": dt.datetime(2025, 1, 1)},
        {"event_type": "offer_declined", "partner_id": "P1", "contract_id": "C", "offer_id": "O"},
    ]
    assert check_events(events) == [
        "events[0].consent_scope: consent_changed events need consent_scope",
        "events[1].offer_id: offer_sent events need offer_id",
        "events[2].partner_id: points_redeemed events need partner_id",
    ]


@pytest.mark.parametrize(
    ("partner", "label"),
    [
        ("P01", "P01"),
        ("P99", "unknown"),
        ("bad\x01\x1b[31m", "unknown"),
        (None, "none"),
        ("", "none"),
    ],
)
def test_partner_labels_are_known_partners_or_one_shared_value(partner, label):
    from serving.metrics import partner_label

    assert partner_label(partner, frozenset({"P01", "P02"})) == label


def _outcomes():
    from features.errors import InvalidInputError
    from features.online_store import FeatureStoreUnavailableError
    from guardrails.intake import StateUnavailableError
    from guardrails.ledger import (
        IdempotencyConflictError,
        InvalidTransitionError,
        LedgerError,
        LedgerUnavailableError,
        ReservationNotFoundError,
    )
    from guardrails.review import (
        ReviewError,
        ReviewExpiredError,
        ReviewNotFoundError,
        ReviewSettledError,
    )

    return [
        (ReviewNotFoundError("no review 'x'"), 404),
        (ReservationNotFoundError("no reservation 'r'"), 404),
        (ReviewSettledError("review x is already approved"), 409),
        (ReviewExpiredError("review x expired"), 409),
        (InvalidTransitionError("cannot commit a reservation that is released"), 409),
        (IdempotencyConflictError("key used with another payload"), 409),
        (InvalidInputError("features break the feature contract", ["features.x: bad"]), 422),
        (LedgerUnavailableError("cannot reach the ledger database"), 503),
        (FeatureStoreUnavailableError("Redis at x: refused"), 503),
        (StateUnavailableError("event state: database is locked"), 503),
        (ReviewError("no review at all, says the text"), None),  # the text decides nothing
        (LedgerError("schema"), None),
        (RuntimeError("boom"), None),
    ]


def test_one_table_maps_each_outcome_type_to_its_status():
    from serving.errors import refusal_body, status_of

    for exc, status in _outcomes():
        assert status_of(exc) == status, exc
    body = refusal_body(_outcomes()[6][0])
    assert body == {"error": "features break the feature contract", "problems": ["features.x: bad"]}


def test_no_status_is_chosen_by_reading_an_exception_message():
    root = Path(__file__).resolve().parents[1] / "serving"
    for path in root.glob("*.py"):
        assert "in str(exc)" not in path.read_text(), path
