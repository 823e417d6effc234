"""Unit tests for features.validation: tiny literal frames, exact expectations."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from features.schema import CUSTOMERS, EVENTS, OFFERS, EventType
from features.validation import (
    _duplicated,
    normalize_events,
    normalize_table,
    validate_events,
    validate_table,
)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "event-schema.md"


def events() -> pd.DataFrame:
    """Four valid events, as text (the way a CSV arrives)."""
    return pd.DataFrame(
        {
            "event_id": ["1", "2", "3", "4"],
            "event_type": ["enrollment", "purchase", "points_accrued", "consent_changed"],
            "occurred_at": [
                "2024-01-01T10:00:00Z",
                "2024-01-02 12:00:00",
                "2024-01-02T14:00:00+02:00",
                "2024-01-03",
            ],
            "customer_id": ["7", "7", "7", "8"],
            "partner_id": ["1", "1", "1", None],
            "contract_id": ["11", None, None, None],
            "tier": ["basic", None, None, None],
            "amount": [None, "12.5", None, None],
            "points": [None, None, "10", None],
            "consent_scope": [None, None, None, "marketing"],
            "consent_granted": [None, None, None, "false"],
        }
    )


def with_cell(row: int, column: str, value: object) -> pd.DataFrame:
    df = events()
    df[column] = df[column].astype(object)
    df.loc[row, column] = value
    return df


def only_error(df: pd.DataFrame):
    report = validate_events(df)
    assert not report.ok
    assert len(report.errors) == 1, report.to_text()
    return report.errors[0]


def test_valid_frame_is_normalised_to_schema_dtypes():
    frame, report = normalize_events(events())
    assert report.ok, report.to_text()
    assert (report.rows_read, report.rows_valid, report.duplicates_dropped) == (4, 4, 0)
    assert report.type_counts == {
        "enrollment": 1,
        "purchase": 1,
        "points_accrued": 1,
        "consent_changed": 1,
    }
    assert list(frame.columns) == EVENTS.column_names
    assert str(frame["occurred_at"].dtype) == "datetime64[us, UTC]"
    assert frame["event_id"].dtype == "int64"
    assert frame["partner_id"].dtype == "Int64"
    assert frame["amount"].dtype == "float64"
    assert frame["points"].dtype == "Int64"
    assert frame["consent_granted"].dtype == "boolean"
    assert list(frame["event_type"].cat.categories) == [e.value for e in EventType]
    assert frame["occurred_at"].tolist() == [
        pd.Timestamp("2024-01-01 10:00", tz="UTC"),
        pd.Timestamp("2024-01-02 12:00", tz="UTC"),  # naive means UTC
        pd.Timestamp("2024-01-02 12:00", tz="UTC"),  # +02:00 converted
        pd.Timestamp("2024-01-03 00:00", tz="UTC"),
    ]
    assert frame["consent_granted"].tolist()[3] is False
    assert report.notes == ["no schema_version column: every row is read as version 1"]


@pytest.mark.parametrize(
    ("row", "column", "value", "check"),
    [
        (1, "occurred_at", "01/02/2024", "bad_timestamp"),
        (1, "occurred_at", None, "null"),
        (0, "customer_id", None, "null"),
        (2, "event_type", "points_acrued", "unknown_value"),
        (0, "tier", "diamond", "unknown_value"),
        (1, "amount", "12,50", "not_a_number"),
        (1, "amount", "-3", "below_minimum"),
        (2, "points", "-10", "below_minimum"),
        (2, "points", "2.5", "not_integral"),
        (3, "consent_granted", "maybe", "not_a_boolean"),
        (1, "amount", None, "missing_attribute"),
        (0, "contract_id", None, "missing_attribute"),
    ],
)
def test_each_bad_cell_is_reported_with_row_column_value(row, column, value, check):
    issue = only_error(with_cell(row, column, value))
    assert (issue.check, issue.column, issue.count) == (check, column, 1)
    assert issue.examples[0].row == row
    assert issue.examples[0].key == row + 1  # the event_id, normalised to an integer
    assert issue.examples[0].value == value


def test_product_year_below_minimum():
    df = events().assign(product_year=[None, None, None, "1850"])
    issue = only_error(df)
    assert (issue.check, issue.column, issue.examples[0].value) == (
        "below_minimum",
        "product_year",
        "1850",
    )


@pytest.mark.parametrize("column", ["event_id", "event_type", "occurred_at", "customer_id"])
def test_missing_required_column_is_a_table_error(column):
    report = validate_events(events().drop(columns=[column]))
    assert [(i.check, i.column) for i in report.errors] == [("missing_column", column)]
    assert report.rows_valid == 0


def test_missing_column_hints_at_a_typo():
    report = validate_events(events().rename(columns={"occurred_at": "occured_at"}))
    assert "'occured_at'" in report.errors[0].message
    assert [w.column for w in report.warnings] == ["occured_at"]


def test_extra_columns_are_a_warning_and_dropped():
    frame, report = normalize_events(events().assign(source_system="crm"))
    assert report.ok
    assert [(w.check, w.column) for w in report.warnings] == [("unknown_column", "source_system")]
    assert "source_system" not in frame.columns


def test_required_attribute_of_an_absent_column():
    issue = only_error(events().drop(columns=["amount"]))
    assert (issue.check, issue.column, issue.examples[0].row) == ("missing_attribute", "amount", 1)
    assert issue.message == "purchase events need amount (the column is absent)"


def test_exact_duplicates_are_dropped_and_counted():
    df = pd.concat([events(), events().iloc[[1, 1]]], ignore_index=True)
    frame, report = normalize_events(df)
    assert report.ok
    assert (report.rows_read, report.duplicates_dropped, len(frame)) == (6, 2, 4)
    assert frame["event_id"].tolist() == [1, 2, 3, 4]


def test_duplicates_compare_normalised_values():
    dup = events().iloc[[0]].assign(occurred_at="2024-01-01 10:00:00")  # same instant, other text
    _, report = normalize_events(pd.concat([events(), dup], ignore_index=True))
    assert report.ok and report.duplicates_dropped == 1


def test_conflicting_duplicate_is_an_error_naming_the_difference():
    dup = events().iloc[[1]].assign(amount="13.0")
    issue = only_error(pd.concat([events(), dup], ignore_index=True))
    assert (issue.check, issue.column, issue.count) == ("conflicting_duplicate", "event_id", 1)
    assert issue.examples[0].row == 4
    assert issue.examples[0].detail == "differs from row 1: amount 12.5 != 13.0"


@pytest.mark.parametrize(
    "ids",
    [
        pd.Series([1, 2, 5, 9]),  # increasing: no sort needed
        pd.Series([1, 5, 2, 5, 9, 1]),
        pd.Series([3, 3]),
        pd.Series([1, None, 2, None, 2], dtype="Int64"),
        pd.Series([1, None, 3], dtype="Int64"),
        pd.Series(["a", "b", "a", None], dtype="category"),
        pd.Series(["a", "b", None], dtype="category"),
        pd.Series([], dtype="int64"),
    ],
)
def test_duplicated_keys_match_pandas(ids):
    keys = pd.DataFrame({"event_id": ids})
    expected = ids.duplicated(keep=False).to_numpy() & ids.notna().to_numpy()
    assert _duplicated(keys).tolist() == expected.tolist()


def test_out_of_order_rows_are_fine_and_keep_their_order():
    frame, report = normalize_events(events().iloc[::-1])
    assert report.ok
    assert frame["event_id"].tolist() == [4, 3, 2, 1]


@pytest.mark.parametrize(
    ("versions", "ok", "found"),
    [
        ([1, 1, None, 1], True, [1]),
        ([1, 2, 1, 1], False, [1, 2]),
        ([1, 1, 1, 1], True, [1]),  # one version: the single-compare path
        ([None] * 4, True, [1]),
        ([2, 2, 2, 2], False, [2]),
    ],
)
def test_schema_version(versions, ok, found):
    report = validate_events(events().assign(schema_version=versions))
    assert report.ok is ok
    assert report.versions_found == found
    if not ok:
        assert report.errors[0].check == "unsupported_version"
        assert report.errors[0].examples[0].row == versions.index(2)


def test_string_ids_are_categories_and_ints_stay_int64():
    df = events().assign(event_id=["e-1", "e-2", "007", "e-4"])
    frame, report = normalize_events(df)
    assert report.ok
    assert frame["event_id"].dtype == "category"
    assert frame["event_id"].tolist() == ["e-1", "e-2", "007", "e-4"]


def test_typed_frame_passes_through():
    typed, _ = normalize_events(events())
    again, report = normalize_events(typed)
    assert report.ok
    pd.testing.assert_frame_equal(again, typed)


def test_examples_are_capped_but_counted():
    df = pd.concat([events()] * 30, ignore_index=True)
    df["event_id"] = range(len(df))
    df["amount"] = df["amount"].where(df["event_type"] != "purchase", "x")
    report = validate_events(df, max_examples=5)
    issue = report.errors[0]
    assert (issue.count, len(issue.examples)) == (30, 5)
    assert "... and 25 more" in report.to_text()
    assert json.loads(json.dumps(report.to_dict()))["errors"][0]["count"] == 30


def test_empty_frame_is_valid_with_a_warning():
    report = validate_events(events().iloc[0:0])
    assert report.ok
    assert [w.check for w in report.warnings] == ["empty"]


def test_reference_table_key_uniqueness():
    customers = pd.DataFrame({"customer_id": [1, 2, 2, 3, 3], "region": ["n", "s", "s", "e", "w"]})
    frame, report = normalize_table(customers, CUSTOMERS)
    assert report.duplicates_dropped == 1
    assert [(e.check, e.examples[0].row) for e in report.errors] == [("conflicting_duplicate", 4)]
    assert frame["customer_id"].tolist() == [1, 2, 3, 3]


def test_reference_table_checks_its_columns():
    offers = pd.DataFrame(
        {
            "offer_id": [1],
            "contract_id": [11],
            "offer_type": ["voucher"],
            "points_cost": [100],
            "value": [10.0],
            "valid_days": [0],
            "cap_per_customer_per_period": [1],
            "channel": ["email"],
        }
    )
    report = validate_table(offers, OFFERS)
    assert [(e.check, e.column) for e in report.errors] == [
        ("unknown_value", "offer_type"),
        ("below_minimum", "valid_days"),
    ]


def test_docs_example_is_valid_and_docs_cover_the_schema(tmp_path):
    text = DOCS.read_text()
    csv = re.search(r"```csv\n(.*?)```", text, re.S).group(1)
    (tmp_path / "example.csv").write_text(csv)
    report = validate_events(pd.read_csv(tmp_path / "example.csv", dtype=str))
    assert report.ok, report.to_text()
    for name in [*EVENTS.column_names, *(e.value for e in EventType)]:
        assert f"`{name}`" in text, name
