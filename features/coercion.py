"""Vectorised coercion of one raw column to its canonical dtype, reporting what did not fit.

Each ``coerce_*`` takes the raw column (any dtype: text from a CSV, typed Parquet columns, a
user's DataFrame) and returns the normalised Series plus the positions of values it had to
reject. Categorical inputs are converted through their categories only, so a 30M-row column
with a handful of distinct values costs a handful of parses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.extensions import ExtensionDtype

from features.schema import DTYPES, Column

INT_TEXT = r"^-?(?:0|[1-9][0-9]{0,17})$"  # canonical integers only: "007" stays text
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


@dataclass(frozen=True)
class Problem:
    """Rows (0-based positions) of one column that failed one check."""

    check: str
    column: str
    positions: np.ndarray
    message: str


def _positions(mask: np.ndarray | pd.Series) -> np.ndarray:
    return np.flatnonzero(np.asarray(mask, dtype=bool))


def _holds_no_nulls(s: pd.Series) -> bool:
    """numpy ints and bools cannot hold nulls; asking pandas would build a 30M-row mask."""
    return isinstance(s.dtype, np.dtype) and s.dtype.kind in "biu"


def null_positions(s: pd.Series) -> np.ndarray:
    """Positions of the null values."""
    return np.empty(0, dtype=np.intp) if _holds_no_nulls(s) else _positions(s.isna().to_numpy())


def _is_categorical(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.CategoricalDtype)


def _is_number(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)


def _via_distinct(s: pd.Series, fn: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """Apply ``fn`` to each distinct value once (categorical input) or to the column as is."""
    if not _is_categorical(s):
        return fn(s)
    done = fn(pd.Series(s.cat.categories))
    values = done.array if isinstance(done.dtype, ExtensionDtype) else done.to_numpy()
    taken = pd.api.extensions.take(values, s.cat.codes.to_numpy(), allow_fill=True)
    return pd.Series(taken, index=s.index)


def _as_categorical(s: pd.Series) -> pd.Series:
    """A categorical view of text-like values, categories as str (in order of appearance)."""
    if not _is_categorical(s):
        codes, uniques = pd.factorize(s)  # unsorted: sorting millions of unique ids is slow
        s = pd.Series(pd.Categorical.from_codes(codes, categories=uniques), index=s.index)
    cats = s.cat.categories
    if pd.api.types.infer_dtype(cats, skipna=True) != "string":
        as_str = cats.map(str)
        if as_str.is_unique:
            s = s.cat.rename_categories(as_str)
        else:
            s = s.astype(str).where(s.notna()).astype("category")
    return s


def to_nullable_int(s: pd.Series) -> pd.Series:
    """Int64 without copying the values when they are already a numpy int64 array."""
    if s.dtype == np.int64:
        mask = np.zeros(len(s), dtype=bool)
        return pd.Series(pd.arrays.IntegerArray(s.to_numpy(), mask), index=s.index, name=s.name)
    return s.astype("Int64", copy=False)


def coerce_id(s: pd.Series, col: Column) -> tuple[pd.Series, list[Problem]]:
    """Integer ids stay int64 (Int64 when the column may hold nulls); other ids are categories."""
    may_be_null = col.nullable or (not _holds_no_nulls(s) and s.hasnans)
    int_dtype = "Int64" if may_be_null else DTYPES.id_int
    if pd.api.types.is_integer_dtype(s.dtype):
        return (to_nullable_int(s) if int_dtype == "Int64" else s.astype(int_dtype, copy=False)), []
    if _is_number(s):
        bad = _positions(s.notna() & (s % 1 != 0))
        problems = [Problem("bad_id", col.name, bad, "id is a number but not an integer")]
        out = s.where(s % 1 == 0)
        return out.astype(int_dtype if not out.hasnans else "Int64"), problems if len(bad) else []
    if s.isna().all():
        return pd.Series(None, index=s.index, dtype="Int64"), []
    cat = _as_categorical(s)
    cats = cat.cat.categories
    text = pa.array(cats.to_numpy(dtype=object), type=pa.string())
    if len(cats) and pc.all(pc.match_substring_regex(text, INT_TEXT)).as_py():
        ints = pd.Series(pc.cast(text, pa.int64()).to_numpy(), dtype="Int64")
        out = _via_distinct(cat, lambda _: ints)
        return out.astype(int_dtype if not out.hasnans else "Int64"), []
    return cat.astype(DTYPES.id_str, copy=False), []


def coerce_category(s: pd.Series, col: Column) -> tuple[pd.Series, list[Problem]]:
    """Categories fixed to the schema's values, in schema order; anything else is an error."""
    cat = _as_categorical(s)
    allowed = list(col.values)
    if list(cat.cat.categories) == allowed:
        return cat, []
    lookup = {v: i for i, v in enumerate(allowed)}
    remap = np.array([lookup.get(c, -1) for c in cat.cat.categories] + [-1], dtype=np.int16)
    codes = remap.take(cat.cat.codes.to_numpy())  # code -1 (null) takes the trailing -1
    out = pd.Series(pd.Categorical.from_codes(codes, categories=allowed), index=s.index)
    bad = _positions(cat.notna().to_numpy() & (codes < 0))
    shown = ", ".join(allowed)
    problems = [Problem("unknown_value", col.name, bad, f"not one of: {shown}")]
    return out, problems if len(bad) else []


def coerce_string(s: pd.Series, col: Column) -> tuple[pd.Series, list[Problem]]:
    """Free text; stored as a category because these columns repeat a few values a lot."""
    return _as_categorical(s), []


def _parse_timestamps(s: pd.Series) -> pd.Series:
    """ISO 8601 text to UTC; Arrow's parser first (10x faster when every value fits it)."""
    if pd.api.types.infer_dtype(s, skipna=True) == "string":
        text = pa.array(s.to_numpy(dtype=object), type=pa.string())
        for target in (pa.timestamp("us", "UTC"), pa.timestamp("us")):  # all zoned / all naive
            try:
                parsed = pc.cast(text, target).to_numpy(zero_copy_only=False)
            except pa.ArrowInvalid:
                continue
            return pd.Series(parsed, index=s.index).dt.tz_localize("UTC")
    return pd.to_datetime(s, utc=True, errors="coerce", format="ISO8601")


def coerce_timestamp(s: pd.Series, col: Column) -> tuple[pd.Series, list[Problem]]:
    """UTC at microsecond resolution; naive values are taken as UTC, others converted."""
    if s.dtype == DTYPES.timestamp:
        return s, []  # already canonical, so every value is a timestamp
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        out = s.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(s.dtype):
        out = s.dt.tz_localize("UTC")
    elif _is_number(s) or pd.api.types.is_bool_dtype(s.dtype):
        out = pd.Series(pd.NaT, index=s.index, dtype=DTYPES.timestamp)
    else:
        out = _via_distinct(s, _parse_timestamps)
    out = out.astype(DTYPES.timestamp, copy=False)
    bad = _positions(s.notna().to_numpy() & out.isna().to_numpy())
    msg = "not a timestamp (use ISO 8601, e.g. 2024-05-01T13:45:00Z)"
    return out, [Problem("bad_timestamp", col.name, bad, msg)] if len(bad) else []


def _numbers(s: pd.Series, col: Column) -> tuple[pd.Series, list[Problem]]:
    """float64 values with non-numbers (and inf) set to NaN and reported."""
    if _is_number(s):
        values = s.astype("float64", copy=False)
    else:
        values = _via_distinct(s, lambda x: pd.to_numeric(x, errors="coerce")).astype("float64")
    finite = np.isfinite(values.to_numpy())
    bad = _positions(s.notna().to_numpy() & ~finite)
    if len(bad):
        values = values.where(finite)
    return values, [Problem("not_a_number", col.name, bad, "not a number")] if len(bad) else []


def _below_min(values: pd.Series, col: Column) -> list[Problem]:
    if col.min_value is None:
        return []
    below = (values < col.min_value).to_numpy(dtype=bool, na_value=False)  # fillna: 4x slower
    bad = _positions(below)
    msg = f"below the minimum {col.min_value:g}"
    return [Problem("below_minimum", col.name, bad, msg)] if len(bad) else []


def coerce_float(s: pd.Series, col: Column) -> tuple[pd.Series, list[Problem]]:
    values, problems = _numbers(s, col)
    return values, problems + _below_min(values, col)


def coerce_int(s: pd.Series, col: Column) -> tuple[pd.Series, list[Problem]]:
    """Nullable Int64; a fractional value is an error, not silently rounded."""
    if pd.api.types.is_integer_dtype(s.dtype):
        out = to_nullable_int(s)
        return out, _below_min(out, col)
    values, problems = _numbers(s, col)
    fractional = values.notna() & (values % 1 != 0)
    if fractional.any():
        problems.append(
            Problem("not_integral", col.name, _positions(fractional), "not a whole number")
        )
        values = values.where(~fractional)
    return values.astype(DTYPES.int), problems + _below_min(values, col)


def _parse_bools(s: pd.Series) -> pd.Series:
    text = s.astype(str).str.strip().str.lower()
    out = pd.Series(pd.NA, index=s.index, dtype=DTYPES.bool)
    out[text.isin(_TRUE).to_numpy()] = True
    out[text.isin(_FALSE).to_numpy()] = False
    return out


def coerce_bool(s: pd.Series, col: Column) -> tuple[pd.Series, list[Problem]]:
    """Booleans; text true/false/yes/no/1/0 (any case) and numbers 0/1 are accepted."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype(DTYPES.bool, copy=False), []
    if _is_number(s):
        out = pd.Series(pd.NA, index=s.index, dtype=DTYPES.bool)
        out[(s == 1).to_numpy()] = True
        out[(s == 0).to_numpy()] = False
    else:
        source = s if _is_categorical(s) else s.astype("category")
        out = _via_distinct(source, _parse_bools).astype(DTYPES.bool)
    bad = _positions(s.notna().to_numpy() & out.isna().to_numpy())
    msg = "not a boolean (true/false)"
    return out, [Problem("not_a_boolean", col.name, bad, msg)] if len(bad) else []


COERCERS: dict[str, Callable[[pd.Series, Column], tuple[pd.Series, list[Problem]]]] = {
    "id": coerce_id,
    "category": coerce_category,
    "string": coerce_string,
    "timestamp": coerce_timestamp,
    "float": coerce_float,
    "int": coerce_int,
    "bool": coerce_bool,
}


def empty_column(col: Column, n_rows: int) -> pd.Series:
    """An all-null column of the right dtype, for optional columns the input lacks."""
    if col.kind == "category":
        codes = np.full(n_rows, -1, dtype=np.int8)
        return pd.Series(pd.Categorical.from_codes(codes, categories=list(col.values)))
    dtype = {
        "id": "Int64",
        "string": DTYPES.category,
        "timestamp": DTYPES.timestamp,
        "float": DTYPES.float,
        "int": DTYPES.int,
        "bool": DTYPES.bool,
    }[col.kind]
    return pd.Series(None, index=pd.RangeIndex(n_rows), dtype=dtype)
