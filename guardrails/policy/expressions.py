"""CEL expressions of a policy: compiled once, checked against the feature catalogue, and run
against small per-decision maps of only the features they read (fast, and data-minimal).

Variables: ``customer`` (features by name), ``request`` (channel, partner_id, time, event),
``scores`` (churn, risk) and, in per-offer expressions, ``offer`` (offer_id, type, points_cost,
value_to_program, channel, propensity).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cel

from features.definitions import FEATURES
from guardrails.policy.issues import Issue

FIELDS = {
    "request": frozenset({"channel", "partner_id", "time", "event"}),
    "scores": frozenset({"churn", "risk"}),
    "offer": frozenset(
        {"offer_id", "type", "points_cost", "value_to_program", "channel", "propensity"}
    ),
}
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'')
_FIELD = re.compile(r"(?<![\w.])(customer|request|scores|offer)\s*\.\s*([A-Za-z_]\w*)")
_INDEX = re.compile(r"(?<![\w.])(customer|request|scores|offer)\s*\[")
_BOUND = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")


@dataclass(frozen=True)
class Expression:
    """One compiled CEL program and the features it reads."""

    path: str
    source: str
    program: Any
    features: tuple[str, ...]
    offer_fields: tuple[str, ...] = ()

    def evaluate(self, context: Any) -> tuple[bool, str | None]:
        """(passed, why not) -- an error or a non-boolean result counts as not passed."""
        try:
            result = self.program.execute(context)
        except KeyError as exc:
            return False, f"could not be evaluated: no value for {exc}"
        except (TypeError, ValueError, RuntimeError) as exc:
            return False, f"could not be evaluated ({_first_line(exc)})"
        if not isinstance(result, bool):
            return False, f"gave {result!r}, not true or false"
        return result, None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else type(exc).__name__


def default_catalogue() -> dict[str, dict]:
    """The product's customer feature set (features.definitions) as name -> dtype and neutral."""
    return {f.name: {"dtype": f.dtype, "neutral": f.neutral} for f in FEATURES}


def catalogue_from_contract(contract: Mapping) -> dict[str, dict]:
    """A feature contract's JSON (``feature_contract.json``) as name -> dtype and neutral."""
    out = {}
    for entry in contract["features"]:
        neutral = entry.get("neutral")
        out[entry["name"]] = {
            "dtype": entry["dtype"],
            "neutral": float("nan") if neutral is None else neutral,
        }
    return out


def compile_expression(
    source: str, path: str, file: str, catalogue: Mapping[str, dict], per_offer: bool
) -> tuple[Expression | None, list[Issue]]:
    """Compile and statically check one expression; issues name the file, path and source."""
    try:
        program = cel.compile(source)
    except (ValueError, RuntimeError) as exc:
        return None, [Issue(file, path, f"CEL does not compile: {_first_line(exc)}", source)]
    issues = _reference_issues(source, program, path, file, catalogue, per_offer)
    if issues:
        return None, issues
    refs = _refs(source)
    features = tuple(sorted(name for root, name in refs if root == "customer"))
    offer_fields = tuple(sorted(name for root, name in refs if root == "offer"))
    return Expression(path, source, program, features, offer_fields), []


def _refs(source: str) -> set[tuple[str, str]]:
    """(root, field) pairs read with a dot, string literals excluded."""
    return {(m.group(1), m.group(2)) for m in _FIELD.finditer(_STRING.sub('""', source))}


def _reference_issues(
    source: str, program: Any, path: str, file: str, catalogue: Mapping, per_offer: bool
) -> list[Issue]:
    code = _STRING.sub('""', source)
    roots = {"customer", "request", "scores"} | ({"offer"} if per_offer else set())
    bound = set(_BOUND.findall(code))
    issues = [
        Issue(file, path, f"unknown variable {name!r}; use one of {sorted(roots)}", source)
        for name in program.variables()
        if name not in roots and name not in bound
    ]
    if _INDEX.search(code):
        issues.append(Issue(file, path, "read fields with a dot (customer.NAME), not [..]", source))
    for root, name in sorted(_refs(source)):
        if root == "customer" and name not in catalogue:
            issues.append(Issue(file, path, f"unknown feature 'customer.{name}'", source))
        elif root in FIELDS and name not in FIELDS[root]:
            fields = ", ".join(sorted(FIELDS[root]))
            message = f"unknown field '{root}.{name}'; {root} has {fields}"
            issues.append(Issue(file, path, message, source))
    return issues


def customer_map(
    features: Mapping[str, Any], names: tuple[str, ...], catalogue: Mapping[str, dict]
) -> dict[str, Any]:
    """The referenced features with their contract types; absent or null ones are left out, so
    an expression reading them fails closed."""
    out = {}
    for name in names:
        value = features.get(name)
        dtype = catalogue[name]["dtype"]
        if value is None or _is_nan(value):  # unknown: CEL sees no key (has() is false)
            continue
        try:
            out[name] = _coerce(value, dtype)
        except (TypeError, ValueError):
            continue
    return out


def _coerce(value: Any, dtype: str) -> Any:
    if dtype == "category":
        return str(value)
    if dtype == "int":
        return int(value)
    return float(value)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def neutral_customer(names: tuple[str, ...], catalogue: Mapping[str, dict]) -> dict[str, Any]:
    """Neutral values of the features, used to type-check expressions at validation time (a
    feature whose neutral is unknown gets a plain value of its type)."""
    plain = {"float": 0.0, "int": 0, "category": ""}
    out = {}
    for name in names:
        spec = catalogue[name]
        neutral = spec["neutral"]
        unknown = neutral is None or _is_nan(neutral)
        out[name] = plain[spec["dtype"]] if unknown else _coerce(neutral, spec["dtype"])
    return out
