"""``loyalty replay``: the reference orchestrator client against the service's ASGI app in-process.

A transport that loses the answer of every first ``/decide`` (the service did the work, the client
never heard) and throttles the first ``/events`` call proves retries are idempotent: each decision
is recorded once, reserved at most once, and the report's figures equal the ledger's and the audit
trail's rows.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

import httpx
import pandas as pd
import pytest

from tests.service_support import build_home, env, forget_bentoml_metrics

TOKEN = "orch-secret-0001"
LIMIT = 60


class FlakyTransport(httpx.AsyncBaseTransport):
    """Forwards to the app; the first /decide of each key loses its response after the service
    answered, and the very first /events call gets a 429 with Retry-After."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.seen: set[str] = set()
        self.throttled = False
        self.calls: Counter = Counter()
        self.lock = threading.Lock()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls[path.rsplit("/", 1)[-1]] += 1
        if path == "/events" and not self.throttled:
            self.throttled = True
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"error": "slow down"})
        response = await self.inner.handle_async_request(request)
        if path == "/decide":
            key = json.loads(request.content)["idempotency_key"]
            if key not in self.seen:
                self.seen.add(key)
                await response.aread()
                raise httpx.ReadError(
                    "connection reset after the service answered", request=request
                )
        return response


@pytest.fixture(scope="module")
def service(trained_home, sim_dir, tmp_path_factory):
    """The ASGI app with its lifespan started, on a data home with champions and policies."""
    from starlette.testclient import TestClient

    values = build_home(trained_home, sim_dir, tmp_path_factory.mktemp("replay") / "home")
    values["LOYALTY_CLOCK_AT"] = "log-end"  # the replayed stretch ends the log: its period
    with env(values):
        from serving.service import DecisionService

        app = DecisionService.to_asgi()
        forget_bentoml_metrics()
        with TestClient(app):
            yield app, values


def _replay(app, sim_dir, transport=None, **kw):
    from serving.replay_run import ReplayOptions, run_replay

    opts = ReplayOptions(concurrency=4, last="14d", limit=LIMIT, retries=3, **kw)
    transport = transport or httpx.ASGITransport(app=app)
    return run_replay(sim_dir, "http://replay.test", TOKEN, opts, transport=transport)


def _stores_figures(ids: list[str]) -> dict:
    """Audit decision records and reservations of these decisions, read from the database."""
    from loyalty.commands.ledger import open_stores_from_settings

    with open_stores_from_settings(write=False) as stores:
        records = Counter()
        for row in stores.audit.rows():
            if row.event == "decision" and row.decision_id in ids:
                records[json.loads(row.body)["outcome"]] += 1
        marks = ",".join("?" * len(ids))
        rows = stores.ledger.db.run(
            lambda tx: tx.all(
                f"SELECT status, COUNT(*) FROM reservations WHERE decision_id IN ({marks}) "
                "GROUP BY status",
                tuple(ids),
            ),
            write=False,
        )
        states = stores.ledger.db.run(
            lambda tx: tx.all(
                f"SELECT decision_id, status FROM reservations WHERE decision_id IN ({marks})",
                tuple(ids),
            ),
            write=False,
        )
        verdict = stores.audit.verify()
    return {
        "records": records,
        "reservations": dict(rows),
        "states": dict(states),
        "audit_ok": verdict.ok,
    }


@pytest.fixture(scope="module")
def first_run(service, sim_dir):
    app, values = service
    flaky = FlakyTransport(httpx.ASGITransport(app=app))
    with env(values):
        report = _replay(app, sim_dir, flaky)
        figures = _stores_figures(report["decision_ids"])
    return report, figures, flaky


def test_every_decision_point_gets_one_recorded_decision(first_run):
    report, figures, flaky = first_run
    assert report["decisions"] == LIMIT
    assert len(report["decision_ids"]) == LIMIT
    assert sum(o["count"] for o in report["outcomes"]) == LIMIT
    assert not [o for o in report["outcomes"] if o["status"] == "error"], report["outcomes"]
    # every first answer was lost: one retry per decision, each answered from the record
    assert report["retries"]["decide"] == LIMIT
    assert flaky.calls["decide"] == 2 * LIMIT
    assert report["retries"]["events"] == 1
    assert sum(f.get("replayed", 0) for f in report["budget"].values()) == LIMIT
    by_status = Counter()
    for o in report["outcomes"]:
        by_status[o["status"]] += o["count"]
    assert figures["records"] == by_status  # one audit record per decision, none doubled
    assert figures["audit_ok"]


def test_report_equals_the_ledger(first_run):
    report, figures, _ = first_run
    contracts = list(report["budget"].values())
    reserved = sum(b.get("approved", 0) + b.get("pending_review", 0) for b in contracts)
    actions = report["actions"]
    assert sum(figures["reservations"].values()) == reserved
    assert figures["reservations"].get("committed", 0) == actions.get("committed", 0)
    assert figures["reservations"].get("released", 0) == actions.get("cancelled", 0)
    assert figures["reservations"].get("held", 0) == actions.get("left for review", 0)
    expected = {"commit": "committed", "cancel": "released", None: "held"}
    for decision_id, record in report["decision_records"].items():
        if record["reservation_id"]:  # the ledger holds exactly what the report says it did
            assert figures["states"][decision_id] == expected[record["action"]], record
        else:
            assert decision_id not in figures["states"]
    points = sum(b.get("points_reserved", 0) for b in contracts)
    settled = ("points_committed", "points_released", "points_held")
    assert points == sum(b.get(k, 0) for b in contracts for k in settled)


def test_events_of_the_stretch_are_forwarded_once(first_run, sim_dir):
    report, _, _ = first_run
    log = pd.read_parquet(sim_dir / "events")
    since, until = pd.Timestamp(report["since"]), pd.Timestamp(report["until"])
    kinds = ("consent_changed", "offer_sent", "offer_declined", "offer_redeemed", "points_redeemed")
    window = log[(log["occurred_at"] >= since) & (log["occurred_at"] < until)]
    expected = int(window["event_type"].astype(str).isin(kinds).sum())
    assert report["events"]["accepted"] + report["events"].get("duplicates", 0) == expected


def test_a_second_replay_reserves_nothing_more(service, sim_dir, first_run):
    app, values = service
    report1, figures1, _ = first_run
    with env(values):
        report2 = _replay(app, sim_dir)
        figures2 = _stores_figures(report2["decision_ids"])
    assert report2["decision_ids"] == report1["decision_ids"]
    assert sum(f.get("replayed", 0) for f in report2["budget"].values()) == LIMIT
    assert figures2 == figures1
    assert report2["events"].get("accepted", 0) == 0


def test_unreachable_service_exits_2(sim_dir):
    import socket

    from typer.testing import CliRunner

    from loyalty.cli import app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["replay", "--events", str(sim_dir), "--url", f"http://127.0.0.1:{port}"]
    result = CliRunner().invoke(
        app, [*args, "--retries", "1", "--limit", "5"], env={"LOYALTY_REPLAY_TOKEN": "x" * 12}
    )
    assert result.exit_code == 2, result.output
    assert "unreachable" in result.output


def test_missing_token_and_bad_arguments_exit_2(sim_dir, monkeypatch):
    from typer.testing import CliRunner

    from loyalty.cli import app

    monkeypatch.delenv("LOYALTY_REPLAY_TOKEN", raising=False)
    base = ["replay", "--events", str(sim_dir), "--url", "http://127.0.0.1:9"]
    result = CliRunner().invoke(app, base)
    assert result.exit_code == 2 and "LOYALTY_REPLAY_TOKEN" in result.output
    env_ = {"MY_TOKEN": "y" * 12}
    result = CliRunner().invoke(app, [*base, "--token-env", "MY_TOKEN", "--last", "3m"], env=env_)
    assert result.exit_code == 2 and "months" in result.output
    result = CliRunner().invoke(app, [*base, "--concurrency", "0"], env=env_)
    assert result.exit_code == 2


def test_partner_settlement_and_plan_mapping():
    from serving.replay_client import DecisionPoint, latency_ms, settle_action
    from serving.replay_plan import Stretch, build_plan, idempotency_key

    at = pd.Timestamp("2025-10-01T09:00:00Z")
    point = DecisionPoint({"time": at.isoformat()}, frozenset({("O1", at.timestamp() + 3600)}))
    approved = {"status": "approved", "reservation_id": "r1", "offer_id": "O1"}
    assert settle_action(point, approved, 86_400) == "commit"
    assert settle_action(point, {**approved, "offer_id": "O2"}, 86_400) == "cancel"
    assert settle_action(point, approved, 60) == "cancel"  # redeemed after the window
    assert settle_action(point, {**approved, "status": "pending_review"}, 86_400) is None
    assert idempotency_key(42) == "replay-42" and idempotency_key("a/b c") == "replay-a_b_c"
    assert latency_ms([0.001, 0.002, 0.003, 0.004])["p50"] == 2.0

    log = pd.DataFrame(
        {
            "event_id": [1, 2, 3, 4],
            "event_type": ["purchase", "consent_changed", "service_visit", "offer_redeemed"],
            "occurred_at": pd.to_datetime(
                ["2025-10-01T09:00Z", "2025-10-01T10:00Z", "2025-10-02T09:00Z", "2025-10-03T00:00Z"]
            ),
            "customer_id": [7, 7, 8, 7],
            "partner_id": ["P01"] * 4,
            "contract_id": ["C-P01"] * 4,
            "channel": ["dealer", "web", "service_center", "app"],
            "offer_id": [None, None, None, "O1"],
            "consent_scope": [None, "marketing", None, None],
            "consent_granted": [None, False, None, None],
            "points": [None, None, None, None],
        }
    )
    plan = build_plan(log, Stretch(since=pd.Timestamp("2025-10-01T00:00Z"), limit=1), 32)
    assert plan.decisions == 1 and plan.events == 0  # the stretch ends at the one decision
    plan = build_plan(log, Stretch(since=pd.Timestamp("2025-10-01T00:00Z")), 1)
    assert [len(s.decisions) for s in plan.slices] == [1, 1, 0]
    assert [len(s.events) for s in plan.slices] == [0, 1, 1]
    first = plan.slices[0].decisions[0]
    assert first.body["idempotency_key"] == "replay-1" and first.body["channel"] == "dealer"
    assert ("O1", pd.Timestamp("2025-10-03T00:00Z").timestamp()) in first.redeemed
    consent = plan.slices[1].events[0]
    assert consent["consent_granted"] is False and consent["consent_scope"] == "marketing"
