"""`loyalty events validate`: exit codes and messages, through the real Typer app."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from loyalty.cli import app

runner = CliRunner()

HEADER = "event_id,event_type,occurred_at,customer_id,partner_id,points"
GOOD_ROWS = [
    "1,points_accrued,2024-01-02T10:00:00Z,7,3,20",
    "2,points_redeemed,2024-02-02T10:00:00Z,7,3,5",
    "3,complaint,2024-03-02T10:00:00Z,7,,",
]


def write_csv(tmp_path, rows, header=HEADER):
    path = tmp_path / "events.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def validate(*args):
    return runner.invoke(app, ["events", "validate", *map(str, args)])


def test_valid_file_exits_0_with_a_summary(tmp_path):
    result = validate(write_csv(tmp_path, GOOD_ROWS))
    assert result.exit_code == 0, result.output
    assert "VALID: 3 rows read, 3 valid, 0 exact duplicates dropped" in result.output
    assert "complaint 1, points_accrued 1, points_redeemed 1" in result.output


def test_exact_duplicates_are_dropped_and_counted(tmp_path):
    result = validate(write_csv(tmp_path, [*GOOD_ROWS, GOOD_ROWS[0], GOOD_ROWS[0]]))
    assert result.exit_code == 0, result.output
    assert "5 rows read, 3 valid, 2 exact duplicates dropped" in result.output


@pytest.mark.parametrize(
    ("rows", "header", "expected"),
    [
        (
            ["1,points_accrued,7,3,20"],
            HEADER.replace(",occurred_at", ""),
            "column 'occurred_at': required column is missing",
        ),
        (
            ["1,points_accrued,2024-13-45,7,3,20"],
            HEADER,
            "row 0, event_id 1, occurred_at='2024-13-45'",
        ),
        (
            ["1,points_acrued,2024-01-02,7,3,20"],
            HEADER,
            "row 0, event_id 1, event_type='points_acrued'",
        ),
        (
            [*GOOD_ROWS, "4,points_expired,2024-01-02,7,,-5"],
            HEADER,
            "row 3, event_id 4, points=-5",
        ),
        (["1,points_accrued,2024-01-02,7,,20"], HEADER, "points_accrued events need partner_id"),
        (
            [*GOOD_ROWS, "2,points_redeemed,2024-02-02T10:00:00Z,7,3,6"],
            HEADER,
            "row 3, event_id 2: differs from row 1: points 5 != 6",
        ),
    ],
    ids=[
        "missing-column",
        "bad-timestamp",
        "unknown-type",
        "negative-points",
        "no-partner",
        "conflict",
    ],
)
def test_invalid_file_exits_1_naming_row_column_value(tmp_path, rows, header, expected):
    result = validate(write_csv(tmp_path, rows, header))
    assert result.exit_code == 1, result.output
    assert "INVALID" in result.output
    assert expected in result.output


def test_missing_required_attribute_names_row_and_column(tmp_path):
    result = validate(write_csv(tmp_path, ["1,points_accrued,2024-01-02,7,,20"]))
    assert "error: [missing_attribute] column 'partner_id'" in result.output
    assert "row 0, event_id 1, partner_id=None" in result.output


def test_ragged_csv_exits_2_naming_the_line(tmp_path):
    result = validate(write_csv(tmp_path, ["1,complaint,2024-01-02,7"]))
    assert result.exit_code == 2
    assert "Expected 6 columns, got 4: 1,complaint,2024-01-02,7" in result.output


def test_missing_file_exits_2(tmp_path):
    result = validate(tmp_path / "nope.csv")
    assert result.exit_code == 2
    assert "no such file or folder" in result.output
    assert "nope.csv" in result.output


def test_json_report(tmp_path):
    result = validate(
        write_csv(tmp_path, [*GOOD_ROWS, "4,points_expired,2024-01-02,7,,-5"]), "--json"
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["rows_read"] == 4
    error = report["errors"][0]
    assert (error["check"], error["column"], error["count"]) == ("below_minimum", "points", 1)
    assert error["examples"][0] == {"row": 3, "location": "row 3", "event_id": 4, "value": -5}


def test_reference_table_option(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text("customer_id,region\n1,north\n2,south\n")
    result = validate(path, "--table", "customers")
    assert result.exit_code == 0, result.output
    assert "customers: VALID" in result.output
    assert validate(path, "--table", "dealers").exit_code == 2


def test_validate_writes_nothing(tmp_path):
    path = write_csv(tmp_path, GOOD_ROWS)
    validate(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.csv"]


def test_help_lists_validate():
    result = runner.invoke(app, ["events", "--help"])
    assert result.exit_code == 0
    assert "validate" in result.output
