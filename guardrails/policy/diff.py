"""What changed between two policy versions, path by path, with offers matched by their id."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_ABSENT = object()


@dataclass(frozen=True)
class Change:
    """One difference: ``+`` added, ``-`` removed, ``~`` changed, at a YAML-like path."""

    kind: str
    path: str
    old: Any = None
    new: Any = None

    def __str__(self) -> str:
        if self.kind == "+":
            return f"+ {self.path}: {_show(self.new)}"
        if self.kind == "-":
            return f"- {self.path}: {_show(self.old)}"
        return f"~ {self.path}: {_show(self.old)} -> {_show(self.new)}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "path": self.path, "old": self.old, "new": self.new}


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 120 else text[:117] + "..."


def diff_documents(old: Mapping, new: Mapping) -> list[Change]:
    """Differences between two normalised policy documents (``Policy.document()``)."""
    return _diff(old, new, "")


def _diff(old: Any, new: Any, path: str) -> list[Change]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        return _diff_maps(old, new, path)
    if path == "offers" and isinstance(old, list) and isinstance(new, list):
        return _diff_maps(_by_id(old), _by_id(new), path, keyed=True)
    if isinstance(old, list) and isinstance(new, list) and not _scalars(old, new):
        return _diff_maps(dict(enumerate(old)), dict(enumerate(new)), path, keyed=True)
    return [] if old == new else [Change("~", path, old, new)]


def _diff_maps(old: Mapping, new: Mapping, path: str, keyed: bool = False) -> list[Change]:
    out: list[Change] = []
    for key in list(old) + [k for k in new if k not in old]:
        sub = f"{path}[{key}]" if keyed else (f"{path}.{key}" if path else str(key))
        before, after = old.get(key, _ABSENT), new.get(key, _ABSENT)
        if before is _ABSENT:
            out.append(Change("+", sub, None, after))
        elif after is _ABSENT:
            out.append(Change("-", sub, before, None))
        else:
            out += _diff(before, after, sub)
    return out


def _by_id(offers: list) -> dict:
    return {o.get("offer_id", i) if isinstance(o, Mapping) else i: o for i, o in enumerate(offers)}


def _scalars(old: list, new: list) -> bool:
    return all(not isinstance(v, Mapping | list) for v in [*old, *new])
