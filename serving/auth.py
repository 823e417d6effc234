"""Bearer tokens with scopes, checked before a request does any work.

Tokens come from configuration (``LOYALTY_TOKENS`` or ``LOYALTY_TOKENS_FILE``), one entry per
token: ``TOKEN=scope+scope[@PARTNER]``, entries separated by ``;`` or new lines. Comparison is
constant-time (``hmac.compare_digest``) against every configured token.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from pathlib import Path

SCOPES = frozenset({"orchestrator", "reviewer", "operator", "partner"})
PUBLIC = frozenset({"/healthz", "/livez", "/readyz", "/docs.json", "/", "/docs"})
_PUBLIC_PREFIXES = ("/static_content/",)

# Route prefix -> scopes that may call it (first match wins; longest prefixes first).
ROUTES: tuple[tuple[str, frozenset[str]], ...] = (
    ("/metrics", frozenset({"operator"})),
    ("/score", frozenset({"orchestrator"})),
    ("/explain", frozenset({"orchestrator"})),
    ("/decide", frozenset({"orchestrator"})),  # a backfill also needs operator (operations)
    ("/events", frozenset({"orchestrator"})),
    ("/decisions", frozenset({"orchestrator", "operator", "partner"})),
    ("/reviews", frozenset({"reviewer"})),
)
# /decisions/{id}/commit and /cancel move budget: the orchestrator's alone (docs/service.md).
_DECISION_ACTIONS = ("commit", "cancel")


class AuthError(Exception):
    """401 (no or unknown token) or 403 (token without the route's scope)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Principal:
    """Who calls: a label for the audit trail, the token's scopes and, for partners, its id."""

    name: str
    scopes: frozenset[str]
    partner: str | None = None


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


def parse_tokens(text: str) -> list[tuple[bytes, Principal]]:
    """Parse the token configuration; unknown scopes are errors, not silently ignored."""
    out: list[tuple[bytes, Principal]] = []
    for n, raw in enumerate(text.replace(";", "\n").splitlines()):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        token, sep, rest = entry.partition("=")
        if not sep or not token.strip() or not rest.strip():
            raise ValueError(f"token entry {n + 1}: expected TOKEN=scope+scope[@PARTNER][#NAME]")
        rest, _, name = rest.partition("#")
        scopes_text, _, partner = rest.strip().partition("@")
        scopes = frozenset(s.strip() for s in scopes_text.split("+") if s.strip())
        unknown = scopes - SCOPES
        if unknown or not scopes:
            raise ValueError(f"token entry {n + 1}: unknown scope(s) {sorted(unknown)}")
        if "partner" in scopes and not partner.strip():
            raise ValueError(f"token entry {n + 1}: a partner token needs @PARTNER")
        if name and not _NAME.fullmatch(name.strip()):
            raise ValueError(
                f"token entry {n + 1}: the name after # must be 1-64 letters, digits or . _ - @"
            )
        label = name.strip() or (
            f"{'+'.join(sorted(scopes))}{'@' + partner.strip() if partner else ''}#{n + 1}"
        )
        out.append((token.strip().encode(), Principal(label, scopes, partner.strip() or None)))
    return out


def load_tokens(inline: str | None, file: Path | None) -> list[tuple[bytes, Principal]]:
    """Tokens from the settings (inline text and/or a file)."""
    text = inline or ""
    if file is not None:
        text += "\n" + Path(file).read_text()
    return parse_tokens(text)


def required_scopes(path: str) -> frozenset[str] | None:
    """The scopes a path needs; None for a public path."""
    if path in PUBLIC or path.startswith(_PUBLIC_PREFIXES):
        return None
    parts = path.strip("/").split("/")
    if len(parts) == 3 and parts[0] == "decisions" and parts[2] in _DECISION_ACTIONS:
        return frozenset({"orchestrator"})  # reading a decision is wider than changing it
    for prefix, scopes in ROUTES:
        if path == prefix or path.startswith(prefix + "/"):
            return scopes
    return frozenset({"operator"})  # anything else is an operational view


def authenticate(header: str | None, tokens: list[tuple[bytes, Principal]]) -> Principal:
    """The principal of an ``Authorization: Bearer ...`` header, or AuthError(401)."""
    if not header or not header.lower().startswith("bearer "):
        raise AuthError(401, "missing bearer token (Authorization: Bearer <token>)")
    given = header[7:].strip().encode()
    found = None
    for token, principal in tokens:  # every entry is compared: timing does not reveal which
        if hmac.compare_digest(given, token):
            found = principal
    if found is None:
        raise AuthError(401, "unknown bearer token")
    return found


def authorize(path: str, header: str | None, tokens: list[tuple[bytes, Principal]]):
    """None for a public path, else the principal allowed to call it (AuthError otherwise)."""
    needed = required_scopes(path)
    if needed is None:
        return None
    principal = authenticate(header, tokens)
    if not principal.scopes & needed:
        raise AuthError(403, f"token lacks a scope for {path}: needs one of {sorted(needed)}")
    return principal
