"""Readers: CSV and Parquet round trips, folders, the simulator layout, unreadable inputs."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.arrow_pandas import column_to_pandas
from features.io import load_events, read_events, read_reference
from features.validation import normalize_events
from loyalty.errors import InputError

CSV = """\
event_id,event_type,occurred_at,customer_id,partner_id,amount,points,consent_scope,consent_granted
1,purchase,2024-01-02T10:00:00Z,7,3,19.90,,,
2,points_accrued,2024-01-02 10:00:01,7,3,,20,,
3,consent_changed,2024-01-05T08:00:00+01:00,8,,,,marketing,true
"""


@pytest.fixture
def frame() -> pd.DataFrame:
    """The CSV above, normalised: the expected result of every reader."""
    df, report = normalize_events(pd.read_csv(pd.io.common.StringIO(CSV), dtype=str))
    assert report.ok
    return df


def test_csv_file(tmp_path, frame):
    (tmp_path / "events.csv").write_text(CSV)
    df, report = read_events(tmp_path / "events.csv")
    assert report.ok, report.to_text()
    assert report.sources == [("events.csv", 3)]
    pd.testing.assert_frame_equal(df, frame)
    assert df["amount"].tolist()[0] == 19.9
    assert df["occurred_at"].iloc[2] == pd.Timestamp("2024-01-05 07:00", tz="UTC")


def test_csv_cells_that_do_not_parse_cleanly_are_left_to_validation(tmp_path):
    (tmp_path / "e.csv").write_text(
        "event_id,event_type,occurred_at,customer_id,partner_id,amount\n"
        "007,purchase,2024-01-01,C1,1,nan\n"
        "8,purchase,2024-01-01,C2,1,5\n"
    )
    df, report = read_events(tmp_path / "e.csv")
    assert df["event_id"].tolist() == ["007", "8"]  # zero-padded ids stay text
    assert df["customer_id"].dtype == "category"
    errors = [(e.check, e.column, e.examples[0].row, e.examples[0].value) for e in report.errors]
    assert errors == [("not_a_number", "amount", 0, "nan")]


def test_gzipped_csv(tmp_path, frame):
    frame_csv = tmp_path / "events.csv.gz"
    pd.read_csv(pd.io.common.StringIO(CSV), dtype=str).to_csv(frame_csv, index=False)
    df, report = read_events(frame_csv)
    assert report.ok
    pd.testing.assert_frame_equal(df, frame)


def test_parquet_round_trip(tmp_path, frame):
    frame.to_parquet(tmp_path / "events.parquet", index=False)
    df, report = read_events(tmp_path / "events.parquet")
    assert report.ok, report.to_text()
    pd.testing.assert_frame_equal(df, frame)


def test_parquet_with_plain_arrow_types(tmp_path):
    table = pa.table(
        {
            "event_id": pa.array(["a", "b"]),
            "event_type": pa.array(["complaint", "account_closed"]),
            "occurred_at": pa.array([0, 1_000_000], pa.timestamp("us")),  # naive: UTC
            "customer_id": pa.array([5, 6], pa.int32()),
            "consent_granted": pa.array([None, True]),
        }
    )
    pq.write_table(table, tmp_path / "e.parquet")
    df, report = read_events(tmp_path / "e.parquet")
    assert report.ok, report.to_text()
    assert df["event_id"].dtype == "category"
    assert df["customer_id"].dtype == "int64"
    assert df["occurred_at"].tolist()[1] == pd.Timestamp("1970-01-01 00:00:01", tz="UTC")
    assert df["consent_granted"].tolist()[1] is True


def test_folder_of_mixed_files_names_the_file_of_each_problem(tmp_path, frame):
    frame.iloc[:2].to_parquet(tmp_path / "part-0.parquet", index=False)
    bad = CSV.replace("3,consent_changed", "3,consent_chnged")
    (tmp_path / "part-1.csv").write_text(bad)
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / "notes.txt").write_text("ignored")
    _, report = read_events(tmp_path)
    assert report.sources == [("part-0.parquet", 2), ("part-1.csv", 3)]
    assert report.duplicates_dropped == 2
    issue = report.errors[0]
    assert (issue.check, issue.column, issue.examples[0].row) == ("unknown_value", "event_type", 4)
    assert "row 4 (part-1.csv row 2)" in report.to_text()


def test_parquet_parts_are_read_as_one_dataset(tmp_path, frame):
    for i in range(3):
        frame.iloc[[i]].to_parquet(tmp_path / f"part-{i:04d}.parquet", index=False)
    df, report = read_events(tmp_path)
    assert report.ok
    pd.testing.assert_frame_equal(df, frame)


def test_simulator_folder_reads_events_and_reference(tmp_path, frame):
    (tmp_path / "events").mkdir()
    (tmp_path / "reference").mkdir()
    (tmp_path / "manifest.json").write_text("{}")
    frame.to_parquet(tmp_path / "events" / "part-0000.parquet", index=False)
    customers = pd.DataFrame({"customer_id": [7, 8], "region": ["north", "south"]})
    customers.to_parquet(tmp_path / "reference" / "customers.parquet", index=False)
    df, report = read_events(tmp_path)
    assert report.ok
    pd.testing.assert_frame_equal(df, frame)
    ref, ref_report = read_reference(tmp_path, "customers")
    assert ref_report.ok
    assert ref["customer_id"].tolist() == [7, 8]
    assert list(ref.columns) == [
        "customer_id",
        "region",
        "acquisition_channel",
        "birth_year",
        "schema_version",
    ]


def test_reference_from_a_csv_file(tmp_path):
    (tmp_path / "partners.csv").write_text(
        "partner_id,name,kind,joined_at\n"
        "1,Acme Motors,oem,2020-01-01\n"
        "1,Acme Motors,oem,2020-01-01\n"
    )
    ref, report = read_reference(tmp_path / "partners.csv", "partners")
    assert report.ok and report.duplicates_dropped == 1 and len(ref) == 1


def test_load_events_raises_on_invalid(tmp_path):
    (tmp_path / "e.csv").write_text(CSV.replace("19.90", "-1"))
    with pytest.raises(InputError, match="below the minimum"):
        load_events(tmp_path / "e.csv")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "no such file or folder"),
        ("events.json", "{}", "unsupported file type"),
        ("empty", "", "no CSV or Parquet files"),
        ("e.csv", "", "no header row"),
        ("e.parquet", "not parquet", "cannot read Parquet"),
    ],
)
def test_unreadable_inputs_raise_input_error_naming_the_path(tmp_path, name, content, message):
    path = tmp_path / name
    if name == "empty":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        read_events(path)
    assert name in str(info.value)


def test_parquet_files_with_clashing_types(tmp_path, frame):
    frame.iloc[:1].to_parquet(tmp_path / "a.parquet", index=False)
    frame.iloc[1:].assign(occurred_at="text").to_parquet(tmp_path / "b.parquet", index=False)
    with pytest.raises(InputError, match="cannot read Parquet"):
        read_events(tmp_path)


def test_unknown_reference_table(tmp_path):
    with pytest.raises(InputError, match="unknown reference table"):
        read_reference(tmp_path, "dealers")
    with pytest.raises(InputError, match=r"no offers\.parquet"):
        read_reference(tmp_path, "offers")


def _int64(column: pa.ChunkedArray) -> pd.Series:
    return column.to_pandas(types_mapper={column.type: pd.Int64Dtype()}.get)


# Each column the fast paths write into one buffer, and how pandas' own conversion reads it.
FAST_PATHS = {
    "dictionaries that differ per chunk": (
        pa.chunked_array(
            [
                pa.DictionaryArray.from_arrays(pa.array([1, None, 0], pa.int32()), ["zzz", "b"]),
                pa.array(["c", "b", None, "c"]).dictionary_encode(),
            ]
        ),
        lambda c: c.to_pandas(),  # Arrow's unification order, unused "zzz" included
    ),
    "plain text": (
        pa.chunked_array([["y", None], ["x", "y"]]),
        lambda c: c.dictionary_encode().to_pandas(),
    ),
    "ints with nulls": (pa.chunked_array([[1, None], [3, 4]], pa.int32()), _int64),
    "narrow ints": (pa.chunked_array([[1, -2], [3]], pa.int8()), _int64),
    "floats with nulls": (pa.chunked_array([[1.5, None], [3.0]]), lambda c: c.to_pandas()),
    "bools with nulls": (
        pa.chunked_array([[True, None], [False]]),
        lambda c: c.to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get),
    ),
    "zoned timestamps": (
        pa.chunked_array([[0, 1_000_000], [5]], pa.timestamp("us", "UTC")),
        lambda c: c.to_pandas(),
    ),
    "no chunks": (pa.chunked_array([], pa.dictionary(pa.int32(), pa.string())), None),
}


@pytest.mark.parametrize(("column", "expected"), FAST_PATHS.values(), ids=FAST_PATHS.keys())
def test_arrow_fast_paths_equal_pandas_conversion(column, expected):
    got = column_to_pandas(column)
    if expected is None:
        assert len(got) == 0 and got.dtype == "category"
        return
    want = expected(column)
    if want.dtype == "Int64" and column.null_count == 0:
        want = want.astype("int64")  # ints without nulls stay numpy ints
    pd.testing.assert_series_equal(got, want, check_names=False)  # category order included


def test_parquet_fast_paths_give_what_the_pandas_path_gives(tmp_path):
    """Dictionaries that differ per file, narrow and nullable ints, zoned timestamps."""
    log = pd.DataFrame(
        {
            "event_id": [1, 2, 3, 4],
            "event_type": ["complaint", "purchase", "points_accrued", "complaint"],
            "occurred_at": pd.to_datetime([0, 1, 2, 3], unit="s", utc=True).as_unit("us"),
            "customer_id": [7, 7, 8, 8],
            "partner_id": [None, "P2", "P1", None],
            "amount": [None, 9.5, None, None],
            "points": [None, None, 20, None],
            "reason": [None, "late", "rude", "late"],
            "schema_version": [1, 1, 1, 1],
        }
    )
    narrow = {"customer_id": pa.int32(), "points": pa.int16(), "schema_version": pa.int8()}
    for i, rows in enumerate([[0, 1], [2, 3]]):
        part = log.iloc[rows]
        columns = {c: pa.array(part[c], type=narrow.get(c)) for c in log.columns}
        text = ["event_type", "partner_id", "reason"]
        columns |= {c: pa.array(part[c]).dictionary_encode() for c in text}  # per-file dicts
        pq.write_table(pa.table(columns), tmp_path / f"part-{i}.parquet")
    df, report = read_events(tmp_path)
    expected, expected_report = normalize_events(log.astype(object))
    pd.testing.assert_frame_equal(df, expected)
    assert df["reason"].cat.categories.tolist() == ["late", "rude"]
    assert {**report.to_dict(), "sources": []} == expected_report.to_dict()
