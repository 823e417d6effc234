"""Secrets that must live outside the ledger database: the audit chain key and the pseudonym key.

A key comes from a setting (environment) when one is given; otherwise from a key file in the data
home, created with mode 0600 on first use by a command that writes (never at import, never by a
verifier: verifying with a fresh key would only prove the key is new).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from features.errors import LoyaltyError


class KeyUnavailableError(LoyaltyError):
    """A key is missing, unreadable or too open."""


def resolve_key(secret: str | None, key_file: Path, *, create: bool) -> bytes | None:
    """The key bytes: ``secret`` if set, else the key file (created 0600 when ``create``)."""
    if secret:
        return secret.encode()
    key_file = Path(key_file)
    if key_file.exists():
        return _read(key_file)
    if not create:
        return None
    key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = key_file.with_name(f".{key_file.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, key_file)  # atomic and exclusive: a concurrent creator's key wins once
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return _read(key_file)


def _read(key_file: Path) -> bytes:
    mode = key_file.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyUnavailableError(
            f"key file {key_file} is readable by others; run chmod 600 {key_file}"
        )
    text = key_file.read_text().strip()
    if len(text) < 32:
        raise KeyUnavailableError(
            f"key file {key_file} holds no usable key (at least 32 characters)"
        )
    return text.encode()


class Pseudonymizer:
    """Keyed hash of identifiers: stable for joins, not reversible without the key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def customer(self, customer_id: str) -> str:
        digest = hmac.new(self._key, b"customer:" + str(customer_id).encode(), hashlib.sha256)
        return "p_" + digest.hexdigest()[:32]
