"""Registry alias names, defined once, and a cheap read of the embedded registry's aliases.

Light on purpose (no MLflow, LightGBM or pandas): ``loyalty serve`` and ``policy apply`` read
aliases here before anything heavy is imported.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

# Training registers ``challenger``; the gate promotes to ``champion`` and keeps the version it
# replaced as ``previous`` (what ``rollback`` restores).
CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"


def embedded_file(tracking_uri: str) -> Path | None:
    """The database file of an embedded ``sqlite:///`` registry (None for any other store)."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix) or "?" in tracking_uri:
        return None
    return Path(tracking_uri[len(prefix) :]).resolve()


def embedded_aliases(tracking_uri: str, names: list[str]) -> dict[str, dict[str, set[int]]] | None:
    """Per registered name, each alias and the versions it points at, read directly from the
    embedded SQLite registry (read-only, in milliseconds, without importing MLflow): cheap
    checks before a server starts or a policy is applied. A missing file is an empty registry
    and is not created. None when only the MLflow client can tell (another kind of store, an
    unreadable file or an unfamiliar schema)."""
    path = embedded_file(tracking_uri)
    if path is None:
        return None
    out: dict[str, dict[str, set[int]]] = {name: {} for name in names}
    if not path.exists() or not names:
        return out
    marks = ",".join("?" * len(names))
    query = f"SELECT name, alias, version FROM registered_model_aliases WHERE name IN ({marks})"
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)) as db:
            rows = db.execute(query, tuple(names)).fetchall()
    except sqlite3.Error:
        return None
    for name, alias, version in rows:
        out[name].setdefault(alias, set()).add(int(version))
    return out
