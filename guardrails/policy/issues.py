"""Validation problems of a policy file, each naming the file, the YAML path and the value.

One shape for every check (schema, CEL, feature references, arithmetic of the budget), so the
command line, the store and the tests report them the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from features.errors import InputError

_MISSING = object()


@dataclass(frozen=True)
class Issue:
    """One problem: where it is (file and YAML path), the offending value and what is wrong."""

    source: str
    path: str
    message: str
    value: object = _MISSING

    def __str__(self) -> str:
        where = self.path or "(document)"
        text = f"{self.source}: {where}: {self.message}"
        if self.value is not _MISSING:
            text += f" (value: {_show(self.value)})"
        return text

    def to_dict(self) -> dict:
        out = {"source": self.source, "path": self.path, "message": self.message}
        if self.value is not _MISSING:
            out["value"] = _show(self.value)
        return out


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def yaml_path(loc: Iterable[object]) -> str:
    """``('offers', 2, 'cap')`` -> ``offers[2].cap``: the path a reader finds in the YAML."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class PolicyInvalidError(InputError):
    """A policy that failed validation; carries every issue, not only the first."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = tuple(issues)
        lines = "\n".join(f"  {issue}" for issue in self.issues)
        super().__init__(f"invalid policy ({len(self.issues)} problem(s)):\n{lines}")


def pydantic_issues(source: str, errors: Iterable[Mapping[str, Any]]) -> list[Issue]:
    """Pydantic's error list as issues; unions report one line per location, not per branch."""
    issues: dict[str, Issue] = {}
    for err in errors:
        loc = [p for p in err["loc"] if not _is_branch_tag(p)]
        path = yaml_path(loc)
        if path in issues:
            continue
        value = _MISSING if err["type"] == "missing" else err.get("input", _MISSING)
        issues[path] = Issue(source, path, _message(err), value)
    return list(issues.values())


def _is_branch_tag(part: object) -> bool:
    # pydantic names the union member it tried ("int", "constrained-str", "function-after[...]")
    return isinstance(part, str) and (
        part in {"int", "float", "str", "bool", "none", "list[str]", "[key]"}
        or part.startswith(("constrained-", "function-", "literal["))
    )


def _message(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key (not part of the policy format; check the spelling)"
    if kind == "missing":
        return "required key is missing"
    return str(err["msg"]).rstrip(".")
