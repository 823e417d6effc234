"""Shadow scores: what the challenger said beside the champion on live requests.

Two sources, read together:

- the decision service's audit trail (the ledger database): every decision record carries the
  champion's scores, the challenger's as ``shadow_<kind>`` (churn and risk), the served versions
  (``model_versions``) and the shadowed ones (``details.shadow_models``);
- Parquet files under ``$LOYALTY_HOME/shadow/<kind>/*.parquet``, for any other recorder (a batch
  shadow run, another service). One row per shadowed request, with the columns

    scored_at           timestamp (UTC)    when both models scored the request
    customer_id         string             the pseudonymized customer id (never the raw id)
    champion_version    int                registry version of the serving champion
    challenger_version  int                registry version of the shadowed challenger
    champion_score      float              calibrated score the champion returned
    challenger_score    float              calibrated score the challenger returned

Propensity rows may add ``offer_id``. The gate uses the rows recorded for exactly the pair of
versions it compares; agreement is the mean absolute score difference and the Spearman rank
correlation of the two scores.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import InputError
from guardrails.audit import AuditTrail
from guardrails.ledger.connect import open_database
from guardrails.ledger.db import sqlite_path

COLUMNS = (
    "scored_at",
    "customer_id",
    "champion_version",
    "challenger_version",
    "champion_score",
    "challenger_score",
)


def shadow_dir(home: Path, kind: str) -> Path:
    return Path(home) / "shadow" / kind


def audit_rows(bodies: Iterable[dict], kind: str) -> pd.DataFrame:
    """The shadow rows of ``kind`` in audit record bodies (records without both scores and both
    versions are not shadow rows)."""
    out = []
    for body in bodies:
        scores = body.get("scores") or {}
        served = (body.get("model_versions") or {}).get(kind)
        shadowed = ((body.get("details") or {}).get("shadow_models") or {}).get(kind)
        if kind not in scores or f"shadow_{kind}" not in scores or not served or not shadowed:
            continue
        out.append(
            {
                "scored_at": body.get("at"),
                "customer_id": body.get("customer"),
                "champion_version": _version(served),
                "challenger_version": _version(shadowed),
                "champion_score": scores[kind],
                "challenger_score": scores[f"shadow_{kind}"],
            }
        )
    return pd.DataFrame(out, columns=list(COLUMNS))


def _version(text: str) -> int:
    """``loyalty-churn/7`` -> 7."""
    return int(str(text).rsplit("/", 1)[-1])


def read_audit(url: str, kind: str) -> pd.DataFrame | None:
    """Shadow rows from the audit trail at ``url`` (None when there is no trail yet)."""
    if url.startswith("sqlite:") and not sqlite_path(url).exists():
        return None
    try:
        with open_database(url, migrate=False) as db:
            rows = AuditTrail(db, None, None).rows()
            return audit_rows((json.loads(r.body) for r in rows if r.event == "decision"), kind)
    except Exception as exc:  # an unreadable trail must not pass for "no shadow traffic"
        raise InputError(f"cannot read shadow scores from the audit trail {url}: {exc}") from exc


def recorded(home: Path, ledger_url: str, kind: str, champion: int, challenger: int):
    """Every recorded shadow row of this pair of versions, from both sources (None: none at all)."""
    frames = [read_shadow(shadow_dir(home, kind), champion, challenger)]
    trail = read_audit(ledger_url, kind)
    if trail is not None:
        pair = (trail["champion_version"] == champion) & (trail["challenger_version"] == challenger)
        frames.append(trail[pair.to_numpy()])
    found = [f for f in frames if f is not None]
    return pd.concat(found, ignore_index=True) if found else None


def read_shadow(folder: Path, champion: int, challenger: int) -> pd.DataFrame | None:
    """The recorded rows for this pair of versions; None when nothing was recorded at all."""
    files = sorted(Path(folder).glob("*.parquet")) if Path(folder).is_dir() else []
    if not files:
        return None
    try:
        frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    except (OSError, ValueError) as exc:
        raise InputError(f"{folder}: unreadable shadow scores ({exc})") from exc
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(
            f"{folder}: shadow scores lack column(s) {missing} (see docs/monitoring.md)"
        )
    pair = (frame["champion_version"].astype("int64") == champion) & (
        frame["challenger_version"].astype("int64") == challenger
    )
    return frame[pair.to_numpy()].reset_index(drop=True)


def agreement(frame: pd.DataFrame | None) -> dict | None:
    """Rows, mean and largest absolute difference, Spearman rank correlation."""
    if frame is None:
        return None
    a = pd.to_numeric(frame["champion_score"], errors="coerce").to_numpy(dtype=np.float64)
    b = pd.to_numeric(frame["challenger_score"], errors="coerce").to_numpy(dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) == 0:
        return {"rows": 0}
    diff = np.abs(a - b)
    ranks = pd.DataFrame({"a": a, "b": b}).rank()
    corr = float(np.corrcoef(ranks["a"], ranks["b"])[0, 1]) if len(a) > 1 else float("nan")
    return {
        "rows": len(a),
        "mean_abs_diff": float(diff.mean()),
        "max_abs_diff": float(diff.max()),
        "rank_correlation": corr if np.isfinite(corr) else 0.0,
    }
