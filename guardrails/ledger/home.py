"""The ledger database of a data home: the policy store opened on it, and the one-time import
of the host-local files earlier releases kept next to it (``policies.db``, ``online_state.db``).

Each imported file is renamed ``<name>.imported`` (kept as a backup, never read again); an import
is idempotent (versions by content hash, events by event id), so two processes starting at once
on an old home import it once between them.
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import suppress
from pathlib import Path

from guardrails.intake import LEGACY_FILE_NAME as LEGACY_STATE
from guardrails.intake import import_legacy_events
from guardrails.ledger.connect import open_database
from guardrails.ledger.db import Database
from guardrails.ledger.model import LedgerError
from guardrails.policy.store import LEGACY_FILE_NAME as LEGACY_POLICIES
from guardrails.policy.store import PolicyStore, import_legacy_policies

log = logging.getLogger("loyalty.ledger")


def import_legacy_files(db: Database, home: Path) -> list[str]:
    """Import ``home``'s host-local policy store and intake state into ``db`` when present;
    returns one line per file imported (also logged)."""
    done = []
    for name, copy in ((LEGACY_POLICIES, _policies), (LEGACY_STATE, _events)):
        path = Path(home) / name
        if not path.is_file():
            continue
        try:
            what = copy(db, path)
        except sqlite3.Error as exc:
            if not path.exists():  # another process imported and renamed it meanwhile
                continue
            raise LedgerError(
                f"cannot import {path} (kept by an earlier release) into the ledger database "
                f"{_shown(db)}: {exc}; move the file away to start without its contents"
            ) from exc
        with suppress(FileNotFoundError):  # renamed by another process that imported it too
            path.rename(path.with_name(name + ".imported"))
        line = (
            f"imported {what} from {path} into the ledger database (file kept as {name}.imported)"
        )
        log.warning("%s", line)
        done.append(line)
    return done


def open_policy_store(url: str, home: Path) -> PolicyStore:
    """The policy store in the ledger database at ``url`` (schema migrated), after importing
    ``home``'s earlier host-local files if any."""
    db = open_database(url)
    try:
        import_legacy_files(db, home)
    except BaseException:
        db.close()
        raise
    return PolicyStore(db)


def _policies(db: Database, path: Path) -> str:
    versions, activations = import_legacy_policies(db, path)
    return f"{versions} policy version(s) and {activations} activation(s)"


def _events(db: Database, path: Path) -> str:
    return f"{import_legacy_events(db, path)} intake event(s)"


def _shown(db: Database) -> str:
    return db.url.split("@")[-1] if db.dialect == "postgresql" else db.url
