"""Whole-file validation: YAML, schema, cross-field checks and CEL, every issue at once.

The CLI's ``policy validate`` and ``policy apply`` and the simulator's tests all go through here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from features.errors import InputError
from guardrails.policy.compiled import CompiledPolicy, compile_checked
from guardrails.policy.expressions import catalogue_from_contract
from guardrails.policy.issues import Issue, PolicyInvalidError
from guardrails.policy.loading import check_document, parse_yaml, read_text
from guardrails.policy.schema import Policy


@dataclass(frozen=True)
class Validation:
    """A file's verdict: the compiled policy when valid, else every issue found."""

    source: str
    text: str
    issues: tuple[Issue, ...]
    compiled: CompiledPolicy | None

    @property
    def ok(self) -> bool:
        return self.compiled is not None and not self.issues

    @property
    def policy(self) -> Policy | None:
        return None if self.compiled is None else self.compiled.policy

    def raise_for_issues(self) -> CompiledPolicy:
        if self.compiled is None or self.issues:
            raise PolicyInvalidError(self.issues)
        return self.compiled


def validate_text(
    text: str, source: str, catalogue: Mapping[str, dict] | None = None
) -> Validation:
    """Validate a policy document given as text (``source`` names it in every issue)."""
    data, issues = parse_yaml(text, source)
    if issues:
        return Validation(source, text, tuple(issues), None)
    checked = check_document(data, source)
    if checked.policy is None:
        return Validation(source, text, tuple(checked.issues), None)
    compiled, cel_issues = compile_checked(checked.policy, catalogue, source)
    found = (*checked.issues, *cel_issues)
    return Validation(source, text, found, None if found else compiled)


def validate_file(
    path: Path, contract: Path | None = None, catalogue: Mapping[str, dict] | None = None
) -> Validation:
    """Validate one policy file against a feature contract's JSON (``contract``), a catalogue
    already read, or else the product's feature set."""
    if contract is not None:
        catalogue = read_catalogue(contract)
    return validate_text(read_text(Path(path)), str(path), catalogue)


def read_catalogue(path: Path) -> dict[str, dict]:
    """The features of a ``feature_contract.json`` (a dataset's, or a model's)."""
    path = Path(path)
    if path.is_dir():
        path = path / "feature_contract.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return catalogue_from_contract(data)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such feature contract") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a feature contract ({exc})") from exc
