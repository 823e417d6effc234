"""``loyalty demo`` end to end on a small ecosystem (slow): the whole loop runs, the printed
summary matches the stores (registry, audit trail, ledger, review queue, report files), and a
second run reuses everything: no new model versions, no new policy versions, no new decisions."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections import Counter

import pytest

from tests.service_support import env

pytestmark = pytest.mark.slow

CUSTOMERS = 20_000  # risk is rare: fewer customers leave a split with under 5 positives
REPLAY = 120
# a small ecosystem's holdout is noisy: the test is about the loop, not about the thresholds
LENIENT_GATE = """
gate:
  absolute: {min_roc_auc: 0.55, max_ece: 0.2}
  kinds:
    risk:
      absolute: {min_roc_auc: 0.55, max_ece: 0.2}
"""


def _demo(home) -> str:
    gate = home.parent / "gate.yaml"
    gate.write_text(LENIENT_GATE)
    cmd = [sys.executable, "-m", "loyalty.cli", "demo", "--customers", str(CUSTOMERS)]
    cmd += ["--replay", str(REPLAY), "--gate-config", str(gate)]
    values = {"LOYALTY_HOME": str(home), "COLUMNS": "200"}
    proc = subprocess.run(
        cmd, env={**os.environ, **values}, capture_output=True, text=True, timeout=1200
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc.stdout


def _stores(home) -> dict:
    from guardrails.ledger.home import open_policy_store
    from loyalty.commands._demo_summary import read_figures
    from loyalty.settings import load_settings

    with env({"LOYALTY_HOME": str(home)}):
        settings = load_settings()
        figures = read_figures(settings)
        store = open_policy_store(settings.ledger_database, settings.home)
        figures["policy_versions"] = {c: len(store.versions(c)) for c in sorted(store.active_all())}
    return figures


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo") / "home"
    out = _demo(home)
    return home, out, _stores(home)


def test_the_loop_serves_champions_and_replays_traffic(first):
    home, _, figures = first
    assert all(m["champion"] for m in figures["models"].values()), figures["models"]
    report = json.loads((home / "reports" / "demo" / "replay.json").read_text())
    assert report["decisions"] == REPLAY == figures["decisions"]
    by_status = Counter()
    for o in report["outcomes"]:
        by_status[o["status"]] += o["count"]
    audit_status = Counter()
    for key, n in figures["outcomes"].items():
        audit_status[key.split(" / ")[0]] += n
    assert audit_status == by_status
    assert figures["review_queue"] == by_status["pending_review"]
    ledger = Counter()
    for f in figures["contracts"].values():
        for status in ("held", "committed", "released"):
            ledger[status] += f.get(f"{status}_n", 0)
    actions = report["actions"]
    assert ledger["committed"] == actions.get("committed", 0)
    assert ledger["released"] == actions.get("cancelled", 0)
    assert ledger["held"] == actions.get("left for review", 0)
    assert figures["audit_ok"]


def test_the_summary_prints_what_the_stores_hold(first):
    home, out, figures = first
    assert f"review queue: {figures['review_queue']:,} pending" in out
    assert f"decisions recorded: {figures['decisions']:,}" in out
    for key, n in figures["outcomes"].items():  # each row of the outcome table, with its count
        assert re.search(rf"{re.escape(key)}\s+{n:,}\b", out), key
    assert f"uv run mlflow ui --backend-store-uri {figures['tracking_uri']}" in out
    for kind in ("churn", "propensity", "risk"):
        assert (home / "reports" / "demo" / kind / "drift.html").exists()
        assert (home / "reports" / "demo" / kind / "gate.json").exists()
    tokens = home / "demo" / "tokens"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600


def test_a_second_run_reuses_everything(first):
    home, _, before = first
    out = _demo(home)
    after = _stores(home)
    assert "reusing the ecosystem" in out and "reusing registered models" in out
    assert "already active" in out and "already the champion" in out
    assert after["models"] == before["models"]
    assert after["policy_versions"] == before["policy_versions"]
    assert after["decisions"] == before["decisions"]
    assert after["contracts"] == before["contracts"]
    report = json.loads((home / "reports" / "demo" / "replay.json").read_text())
    assert sum(b.get("replayed", 0) for b in report["budget"].values()) == REPLAY
