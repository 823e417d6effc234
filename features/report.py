"""The result of validating a table: what was read, what was wrong, where.

Kept apart from ``features.validation`` so that callers (the CLI, the dataset builder, the
service) can render or serialise a report without pulling in the checks themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Example:
    """One offending cell: 0-based row position in the input, the row's key, the raw value."""

    row: int
    key: Any = None
    value: Any = None
    detail: str = ""


@dataclass
class Issue:
    """One check that failed on one column: the total count and the first few examples."""

    check: str
    severity: Severity
    message: str
    column: str | None = None
    count: int = 1
    examples: list[Example] = field(default_factory=list)


@dataclass
class ValidationReport:
    """Everything a user needs to fix an input, and everything a pipeline needs to trust it."""

    table: str
    key: str | None = None
    schema_version: int = 1
    versions_found: list[int] = field(default_factory=list)
    rows_read: int = 0
    rows_valid: int = 0
    duplicates_dropped: int = 0
    type_counts: dict[str, int] = field(default_factory=dict)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sources: list[tuple[str, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, issue: Issue) -> None:
        (self.errors if issue.severity == "error" else self.warnings).append(issue)

    def locate(self, row: int) -> str:
        """'row 12', plus the file and its own row when the input was several files."""
        if len(self.sources) < 2:
            return f"row {row}"
        start = 0
        for name, n_rows in self.sources:
            if row < start + n_rows:
                return f"row {row} ({name} row {row - start})"
            start += n_rows
        return f"row {row}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (numpy scalars, timestamps and NaN made plain)."""
        return {
            "table": self.table,
            "ok": self.ok,
            "schema_version": self.schema_version,
            "versions_found": self.versions_found,
            "rows_read": self.rows_read,
            "rows_valid": self.rows_valid,
            "duplicates_dropped": self.duplicates_dropped,
            "type_counts": dict(self.type_counts),
            "errors": [self._issue_dict(i) for i in self.errors],
            "warnings": [self._issue_dict(i) for i in self.warnings],
            "notes": list(self.notes),
            "sources": [{"file": n, "rows": r} for n, r in self.sources],
        }

    def _issue_dict(self, issue: Issue) -> dict[str, Any]:
        return {
            "check": issue.check,
            "severity": issue.severity,
            "column": issue.column,
            "message": issue.message,
            "count": issue.count,
            "examples": [
                {
                    "row": e.row,
                    "location": self.locate(e.row),
                    self.key or "key": jsonable(e.key),
                    "value": jsonable(e.value),
                    **({"detail": e.detail} if e.detail else {}),
                }
                for e in issue.examples
            ],
        }

    def to_text(self) -> str:
        """A plain-text summary: the verdict, the counts, then each problem with its rows."""
        lines = [self._headline()]
        if self.type_counts:
            counts = ", ".join(f"{t} {n:,}" for t, n in sorted(self.type_counts.items()))
            lines.append(f"  event types: {counts}")
        lines.extend(f"  note: {n}" for n in self.notes)
        for issue in [*self.errors, *self.warnings]:
            lines.extend(self._issue_lines(issue))
        return "\n".join(lines)

    def _headline(self) -> str:
        n = len(self.errors)
        verdict = "VALID" if self.ok else f"INVALID ({n} failed check{'s' if n > 1 else ''})"
        return (
            f"{self.table}: {verdict}: {self.rows_read:,} rows read, {self.rows_valid:,} valid, "
            f"{self.duplicates_dropped:,} exact duplicates dropped, "
            f"schema version {self.schema_version}"
        )

    def _issue_lines(self, issue: Issue) -> list[str]:
        where = f" column {issue.column!r}" if issue.column else ""
        rows = "row" if issue.count == 1 else "rows"
        head = f"{issue.severity}: [{issue.check}]{where}: {issue.message}"
        lines = [head if not issue.examples else f"{head} ({issue.count:,} {rows})"]
        for e in issue.examples:
            key = f", {self.key} {jsonable(e.key)!r}" if self.key and e.key is not None else ""
            if e.detail:
                lines.append(f"    {self.locate(e.row)}{key}: {e.detail}")
                continue
            col = f", {issue.column}=" if issue.column else ", value "
            lines.append(f"    {self.locate(e.row)}{key}{col}{jsonable(e.value)!r}")
        if issue.count > len(issue.examples) and issue.examples:
            lines.append(f"    ... and {issue.count - len(issue.examples):,} more")
        return lines


def jsonable(value: Any) -> Any:
    """Turn numpy/pandas scalars into plain Python values that JSON and repr() show cleanly."""
    if value is None or value.__class__.__name__ in {"NAType", "NaTType"}:
        return None
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)
