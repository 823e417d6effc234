"""Validate and normalise canonical tables against ``features.schema``: pure functions, no I/O.

Every check is vectorised (masks and positions, never a Python loop over rows), so a 30M-row
event log validates in seconds. Rows are named by their 0-based position in the input.
"""

from __future__ import annotations

import difflib

import numpy as np
import pandas as pd

from features.coercion import COERCERS, Problem, empty_column, null_positions
from features.report import Example, Issue, ValidationReport
from features.schema import EVENTS, REQUIRED_ATTRIBUTES, SUPPORTED_SCHEMA_VERSIONS, TableSchema

MAX_EXAMPLES = 20


def validate_events(df: pd.DataFrame, *, max_examples: int = MAX_EXAMPLES) -> ValidationReport:
    """Check an event log against the canonical schema; see ``normalize_events``."""
    return normalize_events(df, max_examples=max_examples)[1]


def normalize_events(
    df: pd.DataFrame, *, max_examples: int = MAX_EXAMPLES
) -> tuple[pd.DataFrame, ValidationReport]:
    """Validate an event log and return it in canonical dtypes with exact duplicates dropped.

    The frame is only trustworthy when ``report.ok``; otherwise rejected values are null in it.
    """
    return normalize_table(df, EVENTS, max_examples=max_examples)


def validate_table(
    df: pd.DataFrame, schema: TableSchema, *, max_examples: int = MAX_EXAMPLES
) -> ValidationReport:
    """Check any canonical table (events or a reference table) against its schema."""
    return normalize_table(df, schema, max_examples=max_examples)[1]


def normalize_table(
    df: pd.DataFrame, schema: TableSchema, *, max_examples: int = MAX_EXAMPLES
) -> tuple[pd.DataFrame, ValidationReport]:
    """Validate ``df`` against ``schema`` and return (normalised frame, report).

    The frame has every schema column (absent optional ones all-null) in schema order, the
    dtypes of ``schema.DTYPES``, extra columns removed and exact key duplicates dropped.
    """
    if not df.index.equals(pd.RangeIndex(len(df))):
        df = df.reset_index(drop=True)
    key = schema.key[0] if len(schema.key) == 1 else None
    report = ValidationReport(table=schema.name, key=key, schema_version=schema.version)
    report.rows_read = len(df)
    if df.columns.has_duplicates:
        for name in df.columns[df.columns.duplicated()].unique():
            msg = "the column appears more than once; the first one is read"
            report.add(Issue("duplicate_column", "error", msg, column=str(name), count=len(df)))
        df = df.loc[:, ~df.columns.duplicated()]
    missing = _check_columns(df, schema, report)
    columns, problems = _coerce_all(df, schema)
    problems += _version_problems(df, columns, report)
    _harmonize_references(columns)
    if schema.name == EVENTS.name and "event_type" in df.columns:
        problems += _attribute_problems(df, columns, problems)
    keep, conflict = _deduplicate(df, columns, schema, max_examples)
    report.duplicates_dropped = int((~keep).sum())
    bad_rows = np.zeros(len(df), dtype=bool)
    for problem in problems:
        _report_problem(report, problem, df, columns, keep, max_examples)
        bad_rows[problem.positions] = True
    if conflict is not None:
        report.add(conflict[0])
        bad_rows[conflict[1]] = True
    report.rows_valid = 0 if missing else int((keep & ~bad_rows).sum())
    frame = pd.DataFrame(columns, copy=False)
    if report.duplicates_dropped:
        frame = frame[keep].reset_index(drop=True)
    if schema.name == EVENTS.name:
        report.type_counts = _type_counts(frame["event_type"])
    if not len(df):
        report.add(Issue("empty", "warning", "the table has no rows", count=0))
    return frame, report


def _check_columns(df: pd.DataFrame, schema: TableSchema, report: ValidationReport) -> bool:
    """Report missing required columns (whole-table errors) and extra ones (ignored)."""
    extra = [str(c) for c in df.columns if c not in schema.column_names]
    missing = [c for c in schema.required_columns if c not in df.columns]
    for name in missing:
        close = difflib.get_close_matches(name, extra, n=1)
        hint = f" (found {close[0]!r}: a typo?)" if close else ""
        msg = f"required column is missing{hint}"
        report.add(Issue("missing_column", "error", msg, column=name, count=len(df)))
    for name in extra:
        msg = "not a column of the schema; ignored"
        report.add(Issue("unknown_column", "warning", msg, column=name, count=0))
    return bool(missing)


def _coerce_all(
    df: pd.DataFrame, schema: TableSchema
) -> tuple[dict[str, pd.Series], list[Problem]]:
    """Each schema column in its canonical dtype, plus every problem found on the way."""
    columns: dict[str, pd.Series] = {}
    problems: list[Problem] = []
    for col in schema.columns:
        if col.name not in df.columns:
            columns[col.name] = empty_column(col, len(df))
            continue
        raw = df[col.name]
        if not col.nullable:
            nulls = null_positions(raw)
            if len(nulls):
                problems.append(Problem("null", col.name, nulls, "empty, but required"))
        columns[col.name], found = COERCERS[col.kind](raw, col)
        problems += found
    return columns, problems


def _harmonize_references(columns: dict[str, pd.Series]) -> None:
    """ref_event_id points at an event_id, so it takes the text form when event ids are text."""
    ids, refs = columns.get("event_id"), columns.get("ref_event_id")
    if ids is None or refs is None or not isinstance(ids.dtype, pd.CategoricalDtype):
        return
    if not isinstance(refs.dtype, pd.CategoricalDtype):
        columns["ref_event_id"] = refs.astype("string").astype("category")


def _version_problems(
    df: pd.DataFrame, columns: dict[str, pd.Series], report: ValidationReport
) -> list[Problem]:
    """Rows of a schema version this code does not read; no column means version 1."""
    if "schema_version" not in df.columns:
        report.notes.append("no schema_version column: every row is read as version 1")
        report.versions_found = [1]
        return []
    versions = columns["schema_version"]
    found = _distinct_versions(versions)
    report.versions_found = sorted(found)
    if found <= SUPPORTED_SCHEMA_VERSIONS:
        return []
    unsupported = versions.notna() & ~versions.isin(SUPPORTED_SCHEMA_VERSIONS)
    bad = np.flatnonzero(unsupported.to_numpy())
    supported = ", ".join(str(v) for v in sorted(SUPPORTED_SCHEMA_VERSIONS))
    msg = f"unsupported schema version (supported: {supported})"
    return [Problem("unsupported_version", "schema_version", bad, msg)] if len(bad) else []


def _distinct_versions(versions: pd.Series) -> set[int]:
    """The versions present, null read as 1; one version (the usual case) takes one compare."""
    first = versions.iloc[0] if len(versions) else None
    if pd.notna(first) and not (versions != first).to_numpy(dtype=bool, na_value=True).any():
        return {int(first)}
    return {1 if pd.isna(v) else int(v) for v in versions.unique()}


def _attribute_problems(
    df: pd.DataFrame, columns: dict[str, pd.Series], problems: list[Problem]
) -> list[Problem]:
    """Rows whose event type needs an attribute they lack (invalid values already reported)."""
    event_type = columns["event_type"]
    codes = event_type.cat.codes.to_numpy()
    code_of = {t: i for i, t in enumerate(event_type.cat.categories)}
    needs: dict[str, list[int]] = {}
    for etype, attrs in REQUIRED_ATTRIBUTES.items():
        for attr in attrs:
            needs.setdefault(attr, []).append(code_of[str(etype)])
    found: list[Problem] = []
    for attr, type_codes in needs.items():
        missing = _any_equal(codes, type_codes)
        missing &= columns[attr].isna().to_numpy()
        for p in problems:
            if p.column == attr:
                missing[p.positions] = False
        positions = np.flatnonzero(missing)
        absent = "" if attr in df.columns else " (the column is absent)"
        for code in np.unique(codes[positions]):
            rows = positions[codes[positions] == code]
            msg = f"{event_type.cat.categories[code]} events need {attr}{absent}"
            found.append(Problem("missing_attribute", attr, rows, msg))
    return found


def _any_equal(codes: np.ndarray, values: list[int]) -> np.ndarray:
    """codes == any of values; a few compares of int8 codes beat indexing a lookup table with
    them, for which numpy first widens 30M codes to a 240 MB intp array."""
    mask = codes == values[0]
    for value in values[1:]:
        mask |= codes == value
    return mask


def _deduplicate(
    df: pd.DataFrame, columns: dict[str, pd.Series], schema: TableSchema, max_examples: int
) -> tuple[np.ndarray, tuple[Issue, np.ndarray] | None]:
    """Keep mask without exact duplicates, and the issue for keys reused with other content."""
    keep = np.ones(len(df), dtype=bool)
    key = list(schema.key)
    if not key or any(k not in df.columns for k in key):
        return keep, None
    dup = _duplicated(pd.DataFrame({k: columns[k] for k in key}, copy=False))
    if not dup.any():
        return keep, None
    idx = np.flatnonzero(dup)
    present = [c.name for c in schema.columns if c.name in df.columns]
    sub = pd.DataFrame({c: columns[c].iloc[idx].reset_index(drop=True) for c in present})
    exact = sub.duplicated(keep="first").to_numpy()
    keep[idx[exact]] = False
    rest, rest_idx = sub[~exact].reset_index(drop=True), idx[~exact]
    later = rest.duplicated(subset=key, keep="first").to_numpy()
    if not later.any():
        return keep, None
    group = rest.groupby(key, sort=False, observed=True).ngroup().to_numpy()  # by first sight
    firsts = rest_idx[~later][group[later]]
    conflicts = rest_idx[later]
    examples = [
        _conflict_example(columns, present, key, int(first), int(pos))
        for first, pos in zip(firsts[:max_examples], conflicts[:max_examples], strict=True)
    ]
    msg = f"the same {', '.join(key)} appears with different content"
    issue = Issue("conflicting_duplicate", "error", msg, key[0], len(conflicts), examples)
    return keep, (issue, conflicts)


def _conflict_example(
    columns: dict[str, pd.Series], names: list[str], key: list[str], first: int, pos: int
) -> Example:
    """'differs from row 3: amount 10.0 != 12.5' for a row that reuses row 3's key."""
    parts = []
    for name in names:
        x, y = columns[name].iloc[first], columns[name].iloc[pos]
        same = (pd.isna(x) and pd.isna(y)) if pd.isna(x) or pd.isna(y) else x == y
        if not same:
            parts.append(f"{name} {x} != {y}")
    key_value = columns[key[0]].iloc[pos]
    return Example(pos, key_value, key_value, f"differs from row {first}: {'; '.join(parts)}")


def _duplicated(keys: pd.DataFrame) -> np.ndarray:
    """Rows whose (non-null) key occurs more than once; sort-based for a single integer key."""
    column = keys.iloc[:, 0]
    categorical = isinstance(column.dtype, pd.CategoricalDtype)
    if keys.shape[1] > 1 or not (categorical or pd.api.types.is_integer_dtype(column.dtype)):
        return keys.duplicated(keep=False).to_numpy() & keys.notna().all(axis=1).to_numpy()
    if categorical:
        values = column.cat.codes.to_numpy()
    else:  # numpy ints hold no nulls, and asking for an na_value would copy them all
        plain = isinstance(column.dtype, np.dtype)
        values = column.to_numpy() if plain else column.to_numpy(dtype=np.int64, na_value=0)
    notna = column.notna().to_numpy()
    present = values if notna.all() else values[notna]
    if (present[1:] > present[:-1]).all():  # increasing ids (as logs are often written): no sort
        return np.zeros(len(keys), dtype=bool)
    ordered = np.sort(present)  # ~10x faster than hashing 30M int64 keys
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if not len(repeated):
        return np.zeros(len(keys), dtype=bool)
    return np.isin(values, np.unique(repeated)) & notna


def _report_problem(
    report: ValidationReport,
    problem: Problem,
    df: pd.DataFrame,
    columns: dict[str, pd.Series],
    keep: np.ndarray,
    max_examples: int,
) -> None:
    """Turn a problem's positions into an issue with a count and the first few examples."""
    positions = problem.positions[keep[problem.positions]]
    if not len(positions):
        return
    shown = positions[:max_examples]
    raw = df[problem.column].iloc[shown].tolist() if problem.column in df.columns else []
    key = report.key
    keys = columns[key].iloc[shown].tolist() if key and key in df.columns else []
    examples = [
        Example(int(p), keys[i] if keys else None, raw[i] if raw else None)
        for i, p in enumerate(shown)
    ]
    issue = Issue(problem.check, "error", problem.message, problem.column, len(positions))
    issue.examples = examples
    report.add(issue)


def _type_counts(event_type: pd.Series) -> dict[str, int]:
    """Rows per type; one compare per type, as bincount would first widen the codes to intp."""
    codes = event_type.cat.codes.to_numpy()
    counts = (np.count_nonzero(codes == code) for code in range(len(event_type.cat.categories)))
    return {str(t): int(n) for t, n in zip(event_type.cat.categories, counts, strict=True) if n}
