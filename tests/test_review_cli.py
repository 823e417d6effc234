"""``loyalty review``, ``loyalty audit`` and ``loyalty ledger`` end to end through the CLI."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from test_ledger_support import Raw, pg_url_fixture  # noqa: F401
from typer.testing import CliRunner

from guardrails.audit import AuditRecord
from guardrails.ledger import ScopeLimits, decision_lines
from loyalty.cli import app

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOYALTY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LOYALTY_LEDGER_URL", raising=False)
    monkeypatch.delenv("LOYALTY_AUDIT_KEY", raising=False)
    return tmp_path / "home"


def run(*args: str, operator: str | None = None):
    """The command in-process; ``operator`` is the configured LOYALTY_OPERATOR identity."""
    return runner.invoke(app, list(args), env={"LOYALTY_OPERATOR": operator} if operator else None)


def _decision_in_review(n: int) -> str:
    """What the service does: reserve, audit the decision, queue it for review."""
    from loyalty.commands.ledger import open_stores_from_settings

    with open_stores_from_settings(write=True) as stores:
        lines = decision_lines(contract_id="C1", partner_id="P1", customer_key="p_1",
                               offer_id="O1", period="2025Q3", amount=7,
                               limits=ScopeLimits(contract=100))  # fmt: skip
        r = stores.ledger.reserve(f"k{n}", f"d{n}", "x", lines, ttl_s=60)
        stores.audit.append(
            AuditRecord(
                decision_id=f"d{n}", outcome="review", customer_id="CUST-1", reservation_ids=[r.id]
            )
        )
        return stores.reviews.submit(
            f"d{n}", r.id, ttl_s=3600, reason="risk 0.6", summary={"contract_id": "C1", "points": 7}
        ).id


def test_fresh_home_verifies_empty_and_creates_nothing(home: Path) -> None:
    result = run("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "0 record(s)" in result.output and not home.exists()
    assert run("review", "list").exit_code == 0
    assert stat.S_IMODE((home / "keys" / "audit.key").stat().st_mode) == 0o600


def test_review_and_audit_commands(home: Path, tmp_path: Path) -> None:
    first, second = _decision_in_review(1), _decision_in_review(2)
    listed = run("review", "list", "--json")
    assert listed.exit_code == 0 and {r["id"] for r in json.loads(listed.output)} == {
        first, second}  # fmt: skip
    assert run("review", "approve", first, "--note", "ok", operator="alice").exit_code == 0
    assert run("review", "reject", second, operator="bob").exit_code == 0
    again = run("review", "approve", second)
    assert again.exit_code == 2 and "already rejected" in again.output
    assert run("review", "approve", "nope").exit_code == 2
    balances = json.loads(run("ledger", "balances", "--json", "--kind", "contract").output)
    assert balances == [{"scope": "contract:C1:2025Q3", "kind": "contract", "period": "2025Q3",
                         "limit": 100, "reserved": 0, "committed": 7, "available": 93}]  # fmt: skip
    assert run("ledger", "check").exit_code == 0
    verify = run("audit", "verify", "--json")
    assert verify.exit_code == 0 and json.loads(verify.output)["checked"] == 4
    head_file = tmp_path / "head.json"
    assert run("audit", "head", "--out", str(head_file)).exit_code == 0
    for suffix in ("jsonl", "parquet"):
        out = tmp_path / f"trail.{suffix}"
        assert run("audit", "export", "--out", str(out)).exit_code == 0 and out.exists()
    assert run("audit", "export", "--out", str(tmp_path / "trail.csv")).exit_code == 2
    raw = Raw(f"sqlite:///{home / 'ledger.db'}")
    raw.execute("DELETE FROM audit_records WHERE seq = 4")
    raw.execute("UPDATE audit_head SET seq = 3 WHERE id = 1")
    raw.close()
    assert run("audit", "verify").exit_code == 0  # the end was cut cleanly...
    broken = run("audit", "verify", "--head", str(head_file))
    assert broken.exit_code == 1 and "record 4" in broken.output  # ...but the head remembers


def test_broken_chain_exits_1_naming_the_record(home: Path) -> None:
    _decision_in_review(1)
    raw = Raw(f"sqlite:///{home / 'ledger.db'}")
    raw.execute("UPDATE audit_records SET body = replace(body, 'review', 'approve') WHERE seq = 1")
    raw.close()
    result = run("audit", "verify")
    assert result.exit_code == 1
    assert "broken at record 1" in result.output and "chain hash" in result.output


def test_missing_key_for_a_non_empty_trail_is_exit_2(home: Path) -> None:
    _decision_in_review(1)
    (home / "keys" / "audit.key").unlink()
    result = run("audit", "verify")
    assert result.exit_code == 2 and "LOYALTY_AUDIT_KEY" in result.output


def test_unreachable_ledger_is_exit_2(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOYALTY_LEDGER_URL", "postgresql://postgres@127.0.0.1:1/test")
    result = run("review", "list")
    assert result.exit_code == 2 and "cannot reach" in result.output


@pytest.mark.postgres
def test_commands_on_postgresql(home: Path, pg_url: str, monkeypatch) -> None:
    monkeypatch.setenv("LOYALTY_LEDGER_URL", pg_url)
    review = _decision_in_review(1)
    assert run("review", "approve", review, operator="alice").exit_code == 0
    assert run("audit", "verify").exit_code == 0
    assert run("ledger", "check").exit_code == 0


@pytest.mark.parametrize(
    "command",
    [["review"], ["review", "list"], ["review", "approve"], ["audit"], ["audit", "verify"],
     ["audit", "export"], ["audit", "head"], ["ledger"], ["ledger", "balances"]],
)  # fmt: skip
def test_commands_have_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0 and "Usage" in result.output


def test_guardrail_stores_import_light_and_without_side_effects(tmp_path: Path) -> None:
    import subprocess
    import sys

    heavy = ("pandas", "numpy", "pyarrow", "psycopg", "mlflow")
    code = (
        "import sys, guardrails.ledger.stores, guardrails.review, guardrails.audit, loyalty.cli; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path)  # fmt: skip
    assert out.stdout.strip() == "" and list(tmp_path.iterdir()) == []


def test_review_list_shows_whole_ids_when_not_a_terminal(home: Path) -> None:
    """CliRunner's output is not a terminal (like a log or a pipe): the table is not squeezed
    into 80 columns, and the id it shows is the one `review approve` takes."""
    from loyalty.commands.ledger import open_stores_from_settings

    contract, offer = "CONTRACT-LONG-NAME-001", "OFFER-DOUBLE-POINTS-WINTER"
    reason = "risk 0.61 over the review threshold 0.5 " + "and a long explanation " * 4
    with open_stores_from_settings(write=True) as stores:
        lines = decision_lines(
            contract_id=contract, partner_id="P1", customer_key="p_1", offer_id=offer,
            period="2025Q3", amount=7, limits=ScopeLimits(contract=100),
        )  # fmt: skip
        held = stores.ledger.reserve("k-long", "d" * 32, "x", lines, ttl_s=60)
        summary = {"contract_id": contract, "offer_id": offer, "points": 7}
        review = stores.reviews.submit(
            "d" * 32, held.id, ttl_s=3600, reason=reason, summary=summary
        ).id
    listed = run("review", "list")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if review in line).split("│")
    assert [cell.strip() for cell in row[1:3]] == [review, "d" * 32]
    assert [cell.strip() for cell in row[5:9]] == [contract, offer, "7", "60 min"]
    assert "…" not in listed.output and "..." not in listed.output
    approved = run("review", "approve", review, operator="alice")
    assert approved.exit_code == 0, approved.output
    assert approved.output == f"review {review} approved by alice; budget committed\n"


def test_the_cli_acts_as_the_configured_operator_never_a_name_per_command(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import getpass

    monkeypatch.delenv("LOYALTY_OPERATOR", raising=False)
    review = _decision_in_review(1)
    refused = run("review", "approve", review, "--by", "mallory")
    assert refused.exit_code == 2 and "No such option: --by" in refused.output
    approved = run("review", "approve", review)
    login = getpass.getuser()
    assert approved.output == f"review {review} approved by os:{login}; budget committed\n"
