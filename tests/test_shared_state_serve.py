"""Two real ``loyalty serve`` processes on different ports and separate data homes sharing one
PostgreSQL schema: the policy store and the online intake state live in that database, so a
consent withdrawn through one host changes the other's next decision, and a policy applied from
one host is active on the other after its refresh poll.

Per host: the key files (copied, so pseudonyms and the audit chain match), the model cache and
the embedded online feature store (a copy of one snapshot; several hosts use Redis for it). The
registry is one MLflow database both read, as an MLflow server would be."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_ledger_support import fresh_schema
from typer.testing import CliRunner

from guardrails.audit import resolve_key
from loyalty.cli import app
from serving.schemas import EXAMPLE_DECIDE
from tests.reliability.reliability_support import Server, running
from tests.service_support import CONSENTED, ORCH, build_home, env

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
HELD_BACK = "C-P05"  # applied only once both hosts serve


@pytest.fixture
def shared_url() -> Iterator[str]:
    yield from fresh_schema("t_shared", "two hosts sharing state")


def _apply(host_env: dict[str, str], policy: Path) -> None:
    with env(host_env):
        result = CliRunner().invoke(app, ["policy", "apply", str(policy)])
    assert result.exit_code == 0, result.output


def _hosts(base: Path, values: dict[str, str], url: str, root: Path) -> list[dict[str, str]]:
    for name in ("audit.key", "pseudonym.key"):
        resolve_key(None, base / "keys" / name, create=True)
    hosts = []
    for name in ("a", "b"):
        home = root / name
        home.mkdir()
        shutil.copytree(base / "keys", home / "keys")
        shutil.copy(base / "online_features.db", home / "online_features.db")
        hosts.append(
            {
                **values,
                "LOYALTY_HOME": str(home),
                "LOYALTY_LEDGER_URL": url,
                "LOYALTY_MLFLOW_TRACKING_URI": f"sqlite:///{(base / 'mlflow.db').resolve()}",
                "LOYALTY_MODEL_POLL_S": "1",
                "LOYALTY_SHADOW": "false",
            }
        )
    return hosts


def _decide(url: str, key: str, **changes):
    import httpx

    body = {**EXAMPLE_DECIDE, "idempotency_key": key, **changes}
    return httpx.post(f"{url}/decide", json=body, headers=ORCH, timeout=60)


def test_two_hosts_share_consent_and_policies(trained_home, sim_dir, shared_url, tmp_path):
    import httpx

    base = tmp_path / "base"
    values = build_home(trained_home, sim_dir, base)  # policies into base's own SQLite ledger
    env_a, env_b = _hosts(base, values, shared_url, tmp_path)
    policies = sorted((base / "policies-in").glob("*.yaml"))
    for policy in policies:
        if policy.stem != HELD_BACK:
            _apply(env_a, policy)  # into the shared PostgreSQL schema
    a = Server(env_a, tmp_path / "a.log")
    b = Server(env_b, tmp_path / "b.log")
    with running(a, b):
        # a customer who gets an offer from host B
        for cid in range(1, 400):
            d = _decide(b.url, f"shared-{cid:05d}", customer_id=str(cid), features=CONSENTED)
            assert d.status_code == 200, d.text
            if d.json()["offer_id"]:
                break
        else:
            pytest.fail("no customer got an offer from host B")
        event = {
            "event_id": f"shared-consent-{cid}",
            "event_type": "consent_changed",
            "occurred_at": "2025-09-30T00:00:00Z",
            "customer_id": str(cid),
            "consent_scope": "marketing",
            "consent_granted": False,
        }
        r = httpx.post(f"{a.url}/events", json={"events": [event]}, headers=ORCH, timeout=30)
        assert r.status_code == 200 and r.json() == {"accepted": 1, "duplicates": 0}, r.text
        r = httpx.post(f"{b.url}/events", json={"events": [event]}, headers=ORCH, timeout=30)
        assert r.json() == {"accepted": 0, "duplicates": 1}  # one state: a retry is a repeat
        after = _decide(b.url, "shared-after", customer_id=str(cid), features=CONSENTED)
        assert after.status_code == 200, after.text
        assert after.json()["offer_id"] is None and after.json()["reservation_id"] is None
        assert "consent_marketing" in [x["code"] for x in after.json()["reasons"]]

        # a policy applied from host A is active on host B after B's refresh poll
        for host in (a, b):
            r = _decide(host.url, f"held-before-{host.port}", contract_id=HELD_BACK)
            assert r.status_code == 404 and "no active policy" in r.text, r.text
        _apply(env_a, base / "policies-in" / f"{HELD_BACK}.yaml")
        deadline = time.time() + 60
        while time.time() < deadline:
            r = _decide(b.url, f"held-after-{int(time.time() * 1000)}", contract_id=HELD_BACK)
            if r.status_code == 200:
                break
            assert r.status_code == 404, r.text
            time.sleep(0.5)
        else:
            pytest.fail(f"host B never served {HELD_BACK}:\n{b.tail()}")
        assert r.json()["contract_id"] == HELD_BACK
