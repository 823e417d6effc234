"""Contract policies as code: the YAML format, validation, CEL compilation and the version store.

    policy = load_policy(path)              # schema + cross-field checks, or PolicyInvalidError
    compiled = compile_policy(policy)       # CEL compiled once; version = content hash
    decision = arbitration.decide(compiled, features, request, state, scores, remaining=...)

See docs/policies.md for the format, the rules' order and the expected-value definition.
"""

from __future__ import annotations

from guardrails.periods import period_key
from guardrails.policy.compiled import CompiledOffer, CompiledPolicy, compile_policy
from guardrails.policy.issues import Issue, PolicyInvalidError
from guardrails.policy.loading import content_hash, load_policy
from guardrails.policy.schema import FORMAT_VERSION, Policy
from guardrails.policy.validate import Validation, validate_file, validate_text

__all__ = [
    "FORMAT_VERSION",
    "CompiledOffer",
    "CompiledPolicy",
    "Issue",
    "Policy",
    "PolicyInvalidError",
    "Validation",
    "compile_policy",
    "content_hash",
    "load_policy",
    "period_key",
    "validate_file",
    "validate_text",
]
