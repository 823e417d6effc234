"""Reading policy files: YAML to a validated Policy, every problem collected, and the version.

The version of a policy is the hash of its normalised document, so reformatting or comments do
not make a new version while any change of meaning does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from features.errors import InputError
from guardrails.policy.checks import policy_issues
from guardrails.policy.issues import Issue, PolicyInvalidError, pydantic_issues
from guardrails.policy.schema import Policy


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice (YAML would keep the last silently)."""


def _mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} given twice (line {mark.line + 1})", mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def content_hash(policy: Policy) -> str:
    """The policy version: 16 hex digits of SHA-256 over the normalised document."""
    body = json.dumps(policy.document(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()[:16]


@dataclass
class Checked:
    """The outcome of validating one document: the policy when schema-valid, and every issue."""

    source: str
    policy: Policy | None
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.policy is not None and not self.issues


def read_text(path: Path) -> str:
    """The file's text; a missing or unreadable file is a usage error (exit 2), not invalid."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such policy file")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the policy file ({exc})") from exc


def parse_yaml(text: str, source: str) -> tuple[Any, list[Issue]]:
    """YAML to plain data; a syntax error is one issue with its line and column."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader), []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, [Issue(source, "", f"not valid YAML{where}: {problem}")]


def check_document(data: Any, source: str) -> Checked:
    """Schema and cross-field checks of a parsed document (CEL is checked on compilation)."""
    if not isinstance(data, Mapping):
        kind = "an empty file" if data is None else f"a {type(data).__name__}"
        return Checked(source, None, [Issue(source, "", f"a policy is a mapping, not {kind}")])
    try:
        policy = Policy.model_validate(dict(data))
    except ValidationError as exc:
        return Checked(source, None, pydantic_issues(source, exc.errors()))
    return Checked(source, policy, policy_issues(policy, source))


def load_policy(path: Path) -> Policy:
    """A policy file that passes the schema and cross-field checks, or PolicyInvalidError."""
    source = str(path)
    data, issues = parse_yaml(read_text(path), source)
    if issues:
        raise PolicyInvalidError(issues)
    checked = check_document(data, source)
    if checked.policy is None or checked.issues:
        raise PolicyInvalidError(checked.issues)
    return checked.policy
