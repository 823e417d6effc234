"""The policy store and its commands: immutable versions, one active each, rollback, diff.

The store lives in the ledger database: each store test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from test_ledger_support import (  # noqa: F401
    Raw,
    pg_url_fixture,
    sqlite_url_fixture,
    url_fixture,
)
from test_policy_helpers import BASE, doc
from typer.testing import CliRunner

from features.errors import InputError
from guardrails.ledger import open_database
from guardrails.ledger.home import import_legacy_files, open_policy_store
from guardrails.policy import Policy, content_hash
from guardrails.policy.diff import diff_documents
from guardrails.policy.store import PolicyStore, compile_active
from loyalty.cli import app

runner = CliRunner()


def _policy(**changes) -> Policy:
    return Policy.model_validate(doc(**changes))


@pytest.fixture
def store(url: str) -> Iterator[PolicyStore]:
    with open_database(url) as db:
        yield PolicyStore(db)


def test_an_empty_store_has_nothing_active(store: PolicyStore) -> None:
    assert store.active("C-1") is None and store.active_all() == {} and store.versions() == []
    assert store.history("C-1") == []


def test_apply_stores_once_and_activates(store: PolicyStore) -> None:
    v1, v2 = _policy(), _policy(**{"budget.points_per_period": 20_000})
    first = store.apply(v1, "text one", "one.yaml")
    assert (first.version, first.previous, first.changed) == (content_hash(v1), None, True)
    again = store.apply(v1, "text with other comments", "again.yaml")
    assert again.changed is False
    second = store.apply(v2, "text two", "two.yaml")
    assert second.previous == content_hash(v1)
    active = store.active("C-1")
    assert active is not None and active.version == content_hash(v2)
    assert active.policy == v2 and active.source_text == "text two"
    assert [(v.version, a) for v, a in store.versions()] == [
        (content_hash(v1), False),
        (content_hash(v2), True),
    ]
    assert store.get(content_hash(v1)).source_text == "text one"  # first text kept


def test_rollback_walks_back_through_versions_and_to_a_named_one(store: PolicyStore) -> None:
    versions = [_policy(**{"budget.points_per_period": n}) for n in (10_000, 20_000, 30_000)]
    for p in versions:
        store.apply(p, "", "f.yaml")
    h = [content_hash(p) for p in versions]
    assert store.rollback("C-1").version == h[1]
    assert store.rollback("C-1").version == h[0]
    with pytest.raises(InputError, match="no version older than the active"):
        store.rollback("C-1")
    assert store.rollback("C-1", to=h[2][:6]).version == h[2]
    history = store.history("C-1")
    assert [(a.action, a.version) for a in history] == [
        ("apply", h[0]),
        ("apply", h[1]),
        ("apply", h[2]),
        ("rollback", h[1]),
        ("rollback", h[0]),
        ("rollback", h[2]),
    ]


def test_rollback_errors(store: PolicyStore) -> None:
    with pytest.raises(InputError, match="no active policy"):
        store.rollback("C-1")
    store.apply(_policy(), "", "f")
    other = _policy(contract_id="C-2")
    store.apply(other, "", "g")
    with pytest.raises(InputError, match="belongs to C-2, not C-1"):
        store.rollback("C-1", to=content_hash(other))
    with pytest.raises(InputError, match="too short"):
        store.get("ab")
    with pytest.raises(InputError, match="no stored policy version matches"):
        store.get("ffffffff")
    assert set(store.active_all()) == {"C-1", "C-2"}
    compiled = compile_active(store)
    assert {c: p.version for c, p in compiled.items()} == {
        "C-1": content_hash(_policy()),
        "C-2": content_hash(other),
    }


def _integrity_errors(url: str) -> tuple[type[Exception], ...]:
    if url.startswith("sqlite"):
        return (sqlite3.IntegrityError,)
    import psycopg

    return (psycopg.IntegrityError,)


def test_versions_and_history_are_append_only(store: PolicyStore, url: str) -> None:
    store.apply(_policy(), "", "f")
    store.apply(_policy(**{"budget.points_per_period": 20_000}), "", "g")
    raw = Raw(url)
    statements = [
        "UPDATE policy_versions SET document = '{}'",
        "DELETE FROM policy_versions",
        "UPDATE policy_activations SET action = 'rollback'",
        "DELETE FROM policy_activations",
    ]
    if not url.startswith("sqlite"):  # PostgreSQL has TRUNCATE, which skips row triggers
        statements += ["TRUNCATE policy_activations", "TRUNCATE policy_versions CASCADE"]
    try:
        for sql in statements:
            with pytest.raises(_integrity_errors(url), match=r"immutable|append-only"):
                raw.execute(sql)
    finally:
        raw.close()
    assert len(store.versions("C-1")) == 2 and len(store.history("C-1")) == 2


def test_two_handles_on_one_database_see_each_others_applies(url: str) -> None:
    """Two hosts: a policy applied through one is active through the other, at once."""
    with open_database(url) as a, open_database(url) as b:
        one, two = PolicyStore(a), PolicyStore(b)
        one.apply(_policy(), "", "f")
        assert two.active("C-1").version == content_hash(_policy())
        newer = _policy(**{"budget.points_per_period": 20_000})
        done = two.apply(newer, "", "g")
        assert done.previous == content_hash(_policy())
        assert {c: p.version for c, p in compile_active(one).items()} == {
            "C-1": content_hash(newer)
        }
        assert [v.seq for v, _ in one.versions("C-1")] == [1, 2]


def _legacy_policies(path: Path, policies: list[Policy]) -> None:
    """A policies.db as earlier releases wrote it (their schema, kept verbatim)."""
    import json

    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE policy_versions (version TEXT PRIMARY KEY, contract_id TEXT NOT NULL,"
            " seq INTEGER NOT NULL, document TEXT NOT NULL, source_text TEXT NOT NULL,"
            " source_name TEXT NOT NULL, stored_at TEXT NOT NULL, UNIQUE (contract_id, seq));"
            "CREATE TABLE activations (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " contract_id TEXT NOT NULL, version TEXT NOT NULL, previous TEXT,"
            " action TEXT NOT NULL, at TEXT NOT NULL);"
        )
        previous = None
        for seq, p in enumerate(policies, 1):
            h = content_hash(p)
            db.execute(
                "INSERT INTO policy_versions VALUES (?, ?, ?, ?, ?, ?, ?)",
                (h, p.contract_id, seq, json.dumps(p.document()), "text", "f.yaml", "2025-01-01"),
            )
            db.execute(
                "INSERT INTO activations (contract_id, version, previous, action, at) "
                "VALUES (?, ?, ?, 'apply', '2025-01-01')",
                (p.contract_id, h, previous),
            )
            previous = h
    db.close()


def test_an_old_homes_policies_db_is_imported_once(url: str, tmp_path: Path) -> None:
    old = [_policy(), _policy(**{"budget.points_per_period": 20_000})]
    _legacy_policies(tmp_path / "policies.db", old)
    store = open_policy_store(url, tmp_path)
    assert not (tmp_path / "policies.db").exists()
    assert (tmp_path / "policies.db.imported").exists()
    assert store.active("C-1").version == content_hash(old[1])
    assert [a.version for a in store.history("C-1")] == [content_hash(p) for p in old]
    assert store.rollback("C-1").version == content_hash(old[0])  # the history works on
    assert import_legacy_files(store.db, tmp_path) == []  # nothing left to import
    store.db.close()


def test_an_unreadable_old_file_is_named_in_a_clear_error(sqlite_url: str, tmp_path: Path) -> None:
    from guardrails.ledger import LedgerError

    (tmp_path / "policies.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(LedgerError, match=r"cannot import .*policies\.db.*move the file away"):
        open_policy_store(sqlite_url, tmp_path)


def test_diff_matches_offers_by_id() -> None:
    old = _policy().document()
    new_offers = [
        {**BASE["offers"][1], "cap_per_customer_per_period": 3},
        {**BASE["offers"][0], "offer_id": "C"},
    ]
    new = _policy(offers=new_offers, **{"risk_routing.review_below": 0.8}).document()
    changes = diff_documents(old, new)
    assert [(c.kind, c.path, c.old, c.new) for c in changes] == [
        ("-", "offers[A]", old["offers"][0], None),
        ("~", "offers[B].cap_per_customer_per_period", 2, 3),
        ("+", "offers[C]", None, new["offers"][1]),
        ("~", "risk_routing.review_below", 0.7, 0.8),
    ]
    assert str(changes[1]) == "~ offers[B].cap_per_customer_per_period: 2 -> 3"
    assert str(changes[0]).startswith("- offers[A]: {'offer_id': 'A'")
    assert diff_documents(old, old) == []


# --- the command line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    ["validate", "apply", "rollback", "list", "diff", "simulate", "pause", "resume", None],
)
def test_every_policy_command_has_help(command: str | None) -> None:
    args = ["policy", command, "--help"] if command else ["policy", "--help"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "Usage" in result.output


def _cli(home: Path, *args: str, operator: str = "ops-1"):
    env = {"LOYALTY_HOME": str(home), "LOYALTY_OPERATOR": operator}
    return runner.invoke(app, ["policy", *args], env=env)


def test_cli_apply_list_rollback_diff(tmp_path: Path) -> None:
    home = tmp_path / "home"
    one, two = tmp_path / "one.yaml", tmp_path / "two.yaml"
    one.write_text(yaml.safe_dump(BASE))
    two.write_text(yaml.safe_dump(doc(**{"budget.points_per_period": 20_000})))
    h1 = content_hash(_policy())
    h2 = content_hash(_policy(**{"budget.points_per_period": 20_000}))
    assert _cli(home, "list").output.startswith("no policies stored yet")
    result = _cli(home, "apply", str(one))
    assert result.exit_code == 0 and f"C-1: version {h1} stored and active" in result.output
    assert "already active" in _cli(home, "apply", str(one)).output
    assert f"(was {h1})" in _cli(home, "apply", str(two)).output
    listing = _cli(home, "list").output.splitlines()
    assert listing[0].startswith(f"  C-1          {h1}") and listing[1].startswith(
        f"* C-1          {h2}"
    )
    result = _cli(home, "rollback", "C-1", operator="finance-2")
    assert (
        result.exit_code == 0 and f"rolled back to {h1} (was {h2}), by finance-2" in result.output
    )
    from guardrails.ledger.home import open_policy_store

    opened = open_policy_store(f"sqlite:///{home / 'ledger.db'}", home)
    history = opened.history("C-1")
    opened.db.close()
    assert [(a.action, a.by) for a in history] == [
        ("apply", "ops-1"), ("apply", "ops-1"), ("rollback", "finance-2")]  # fmt: skip
    result = _cli(home, "diff", h1, str(two))
    assert result.output.strip() == "~ budget.points_per_period: 10000 -> 20000"
    assert (home / "ledger.db").exists() and not (home / "policies.db").exists()


def test_cli_apply_refuses_an_invalid_policy_and_stores_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc(**{"risk_routing.approve_below": 0.9})))
    result = _cli(home, "apply", str(bad))
    assert result.exit_code == 2
    assert "risk_routing.approve_below: thresholds out of order" in result.output
    assert _cli(home, "list").output.startswith("no policies stored yet")
    result = _cli(home, "rollback", "C-9")
    assert result.exit_code == 2 and "no active policy" in result.output
    result = _cli(home, "diff", "nope", "zzzz")
    assert result.exit_code == 2


def test_cli_on_an_old_home_lists_the_policies_of_its_policies_db(tmp_path: Path) -> None:
    """A data home of an earlier release: the first policy command imports its policies.db."""
    home = tmp_path / "home"
    home.mkdir()
    old = [_policy(), _policy(**{"budget.points_per_period": 20_000})]
    _legacy_policies(home / "policies.db", old)
    listing = _cli(home, "list").output.splitlines()
    assert listing[1].startswith(f"* C-1          {content_hash(old[1])}"), listing
    assert (home / "policies.db.imported").exists() and not (home / "policies.db").exists()
    result = _cli(home, "rollback", "C-1")
    assert result.exit_code == 0 and f"rolled back to {content_hash(old[0])}" in result.output


def test_cli_pause_and_resume_a_contracts_spending(tmp_path: Path) -> None:
    home = tmp_path / "home"
    one = tmp_path / "one.yaml"
    one.write_text(yaml.safe_dump(BASE))
    result = _cli(home, "pause", "C-1")
    assert result.exit_code == 2 and "no active policy for contract 'C-1'" in result.output
    assert _cli(home, "apply", str(one)).exit_code == 0
    result = _cli(home, "pause", "C-1", "--reason", "budget under review", operator="finance")
    assert result.exit_code == 0 and "C-1: spending paused at " in result.output
    assert "by finance" in result.output
    again = _cli(home, "pause", "C-1")
    assert again.exit_code == 2 and "contract C-1 is paused already" in again.output
    assert _cli(home, "resume", "C-1").output.strip() == "C-1: spending resumed"
    assert _cli(home, "resume", "C-1").exit_code == 2
