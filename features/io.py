"""Readers for the canonical tables: CSV or Parquet files, folders of them, simulator output.

Parquet is read with pyarrow as one dataset and converted column by column (text columns as
dictionaries, so they arrive as pandas categories; integer ids stay int64; see
``features.arrow_pandas``) to keep a 30M-row log within a few GiB. CSV cells are read as
text; a column whose every cell parses as its schema type is typed in Arrow, any other stays
text so that ``features.validation`` (which every reader runs before returning) can name the
offending cells.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from features.arrow_pandas import column_to_pandas, is_text, memory_pool
from features.coercion import INT_TEXT
from features.customer import References
from features.errors import InputError
from features.report import ValidationReport
from features.schema import EVENTS, REFERENCE_TABLES, TableSchema
from features.validation import MAX_EXAMPLES, normalize_events, normalize_table

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz")
CSV_NULLS = ["", "null", "NULL"]
BATCH_ROWS = 1 << 20  # fewer, longer chunks: 10% less CPU to scan than the 128K default


def read_events(
    path: str | Path, *, max_examples: int = MAX_EXAMPLES
) -> tuple[pd.DataFrame, ValidationReport]:
    """Read and validate an event log; check ``report.ok`` before trusting the frame.

    ``path`` is a CSV or Parquet file, a folder of them, or a simulator output folder (its
    ``events/`` subfolder is read).
    """
    path = Path(path)
    if path.is_dir() and (path / "events").is_dir():
        path = path / "events"
    raw, sources = read_raw(event_files(path), EVENTS)
    frame, report = normalize_events(raw, max_examples=max_examples)
    report.sources = sources
    return frame, report


def load_events(path: str | Path) -> pd.DataFrame:
    """The normalised event log, or an InputError that summarises why it is invalid."""
    frame, report = read_events(path)
    if not report.ok:
        raise InputError(f"{path} is not a valid event log:\n{report.to_text()}")
    return frame


def read_reference(
    path: str | Path, table_name: str, *, max_examples: int = MAX_EXAMPLES
) -> tuple[pd.DataFrame, ValidationReport]:
    """Read and validate one reference table (customers, partners, contracts, offers).

    ``path`` is the table's own CSV/Parquet file, or a folder holding ``<name>.parquet`` or
    ``<name>.csv`` directly or under ``reference/`` (the simulator layout).
    """
    if table_name not in REFERENCE_TABLES:
        known = ", ".join(REFERENCE_TABLES)
        raise InputError(f"unknown reference table {table_name!r} (known: {known})")
    schema = REFERENCE_TABLES[table_name]
    file = _reference_file(Path(path), table_name)
    raw, sources = read_raw([file], schema)
    frame, report = normalize_table(raw, schema, max_examples=max_examples)
    report.sources = sources
    return frame, report


def read_reference_tables(folder: str | Path, names: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    """The named reference tables found in ``folder``; an absent table is left out, an invalid
    one is an error naming its problems."""
    tables = {}
    for name in names:
        try:
            frame, report = read_reference(folder, name)
        except InputError:
            continue
        if not report.ok:
            raise InputError(f"reference table {name} is invalid:\n{report.to_text()}")
        tables[name] = frame
    return tables


def load_references(events: Path, reference: Path | None) -> tuple[References, pd.DataFrame | None]:
    """The customers, partners and contracts tables the features read, and the offers table (or
    None), from ``reference`` or else the log's own ``reference/`` folder; the dataset builder and
    the online materialisation read them the same way, so their features agree."""
    folder = reference or (events / "reference" if (events / "reference").is_dir() else None)
    if folder is None:
        return References.empty(), None
    tables = read_reference_tables(folder, ("customers", "partners", "contracts", "offers"))
    refs = References.from_frames(
        tables.get("customers"), tables.get("partners"), tables.get("contracts")
    )
    return refs, tables.get("offers")


def _reference_file(path: Path, table_name: str) -> Path:
    if not path.exists():
        raise InputError(f"no such file or folder: {path}")
    if path.is_file():
        return path
    for folder in (path / "reference", path):
        for suffix in (*PARQUET_SUFFIXES, *CSV_SUFFIXES):
            candidate = folder / f"{table_name}{suffix}"
            if candidate.is_file():
                return candidate
    raise InputError(f"no {table_name}.parquet or {table_name}.csv in {path} or {path}/reference")


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    return None


def event_files(path: Path) -> list[Path]:
    """The data files at ``path`` in name order; InputError when there are none to read."""
    if not path.exists():
        raise InputError(f"no such file or folder: {path}")
    if path.is_file():
        if _kind(path) is None:
            raise InputError(f"unsupported file type: {path} (expected .csv, .csv.gz or .parquet)")
        return [path]
    files = sorted(
        p for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "_")) and _kind(p)
    )
    if not files:
        raise InputError(f"no CSV or Parquet files in folder {path}")
    return files


def read_raw(
    files: list[Path], schema: TableSchema | None = None
) -> tuple[pd.DataFrame, list[tuple[str, int]]]:
    """The files as one raw frame (Parquet first, then CSV), and (file name, rows) per file.

    With ``schema``, CSV columns whose every value parses cleanly are typed in Arrow (much
    faster than in pandas); the rest stay text, for validation to name the bad cells.
    """
    parquet = [f for f in files if _kind(f) == "parquet"]
    text = [f for f in files if _kind(f) == "csv"]
    frames = [_read_parquet(parquet)] if parquet else []
    sources = [(f.name, pq.ParquetFile(f).metadata.num_rows) for f in parquet]
    for f in text:
        frames.append(_to_pandas(_read_csv(f), schema))
        sources.append((f.name, len(frames[-1])))
    return (frames[0] if len(frames) == 1 else _concat(frames)), sources


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Stack frames column by column; a column a file lacks is empty for its rows."""
    names = list(dict.fromkeys(name for f in frames for name in f.columns))
    columns = {}
    for name in names:
        parts = [
            f[name] if name in f.columns else pd.Series(None, index=f.index, dtype=object)
            for f in frames
        ]
        columns[name] = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(columns, copy=False)


def _plain(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def _read_parquet(files: list[Path]) -> pd.DataFrame:
    """All Parquet files as one frame; text columns arrive as categories."""
    try:
        schemas = [pq.read_schema(f) for f in files]
        plain = [pa.schema([pa.field(f.name, _plain(f.type)) for f in s]) for s in schemas]
        unified = pa.unify_schemas(plain, promote_options="permissive")
    except (pa.ArrowException, OSError) as exc:
        where = files[0].parent if len(files) > 1 else files[0]
        raise InputError(f"cannot read Parquet schema in {where}: {exc}") from exc
    text = [f.name for f in unified if is_text(f.type)]
    dict_type = pa.dictionary(pa.int32(), pa.string())
    schema = pa.schema([pa.field(f.name, dict_type) if f.name in text else f for f in unified])
    fmt = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(dictionary_columns=text))
    dataset = ds.dataset([str(f) for f in files], schema=schema, format=fmt)
    try:
        return _read_columns(dataset, schema.names)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"cannot read Parquet data in {files[0].parent}: {exc}") from exc


def _read_columns(dataset: ds.Dataset, names: list[str]) -> pd.DataFrame:
    """One column at a time, which bounds the Arrow copy to one column. (Scanning the next
    column in a thread while converting this one was no faster on 2 cores.)"""
    columns: dict[str, pd.Series] = {}
    for name in names:
        table = dataset.to_table(columns=[name], batch_size=BATCH_ROWS, memory_pool=memory_pool())
        columns[name] = column_to_pandas(table.column(0))
        del table
    return pd.DataFrame(columns, copy=False)


def _csv_header(path: Path) -> list[str]:
    with pa.input_stream(str(path), compression="detect") as stream:
        head = stream.read(1 << 16).decode("utf-8-sig", errors="replace")
    row = next(csv.reader(io.StringIO(head)), None)
    if not row:
        raise InputError(f"CSV file has no header row: {path}")
    return row


def _read_csv(path: Path) -> pa.Table:
    """Every cell as text, so that no value is lost to type inference; empty cells are null."""
    header = _csv_header(path)
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.string()),
        null_values=CSV_NULLS,
        strings_can_be_null=True,
    )
    try:
        return pacsv.read_csv(str(path), convert_options=convert)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"cannot read CSV {path}: {exc}") from exc


def _to_pandas(table: pa.Table, schema: TableSchema | None = None) -> pd.DataFrame:
    """Column by column, releasing each Arrow column once converted, to bound peak memory."""
    known = {c.name: c.kind for c in schema.columns} if schema else {}
    columns: dict[str, pd.Series] = {}
    for name in list(table.column_names):
        column = table.column(name)
        table = table.drop_columns([name])
        columns[name] = column_to_pandas(_type_text(column, known.get(name)))
        del column
    return pd.DataFrame(columns, copy=False)


def _type_text(column: pa.ChunkedArray, kind: str | None) -> pa.ChunkedArray:
    """A text column cast to its schema type when every value parses; else unchanged."""
    if kind in {"id", "int"} and pc.all(pc.match_substring_regex(column, INT_TEXT)).as_py():
        return pc.cast(column, pa.int64())  # all() skips nulls and is None when all are null
    if kind == "float":
        values = _try_cast(column, pa.float64())
        finite = values is not None and pc.all(pc.is_finite(values)).as_py() is not False
        return values if finite else column
    if kind == "timestamp":
        for target in (pa.timestamp("us", "UTC"), pa.timestamp("us")):  # all zoned, all naive
            if (values := _try_cast(column, target)) is not None:
                return values
    return column


def _try_cast(column: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray | None:
    try:
        return pc.cast(column, target)
    except pa.ArrowInvalid:
        return None
