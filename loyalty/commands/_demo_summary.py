"""The demo's closing summary. Every figure is read back from the stores (registry aliases,
ledger rows, audit records, review queue, report files), never from what the steps said they
did, so an empty or broken run cannot print a good summary."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from rich import box
from rich.table import Table
from rich.text import Text

from loyalty.commands._common import console, print_verbatim, whole
from loyalty.commands._demo_data import KINDS
from loyalty.commands._train_run import quiet_mlflow
from loyalty.commands.ledger import open_stores_from_settings


def read_figures(settings) -> dict:
    """Aliases, decisions by outcome and reason, budget per contract, review queue, reports."""
    return {
        "models": registry_aliases(settings),
        **ledger_figures(settings),
        "reports": report_files(settings.home / "reports"),
        "tracking_uri": settings.tracking_uri,
    }


def registry_aliases(settings) -> dict[str, dict[str, str | None]]:
    from monitoring.registry import connect, version_by_alias

    quiet_mlflow()
    client = connect(settings.tracking_uri)
    out = {}
    for kind in KINDS:
        name = settings.model_name(kind)
        out[kind] = {
            alias: (str(v.version) if (v := version_by_alias(client, name, alias)) else None)
            for alias in ("champion", "challenger", "previous")
        }
    return out


def ledger_figures(settings) -> dict:
    """Decisions (audit trail), reservations and points per contract (ledger), review queue."""
    from guardrails.ledger.burn import contract_burn
    from guardrails.ledger.model import Scope

    with open_stores_from_settings(write=False) as stores:
        outcomes, contracts = _audit(stores)
        for burn in contract_burn(stores.ledger.db):
            figures = contracts[Scope.parse(burn.scope).key]
            figures[f"{burn.status}_n"] += burn.reservations
            figures[f"{burn.status}_points"] += burn.points
        pending = stores.reviews.list("pending", limit=100_000)
        audit_ok = stores.audit.verify().ok if stores.audit.has_key else None  # no key: no trail
    return {
        "decisions": sum(outcomes.values()),
        "outcomes": {f"{s} / {r}": n for (s, r), n in sorted(outcomes.items())},
        "contracts": {c: dict(v) for c, v in sorted(contracts.items())},
        "review_queue": len(pending),
        "audit_ok": audit_ok,
    }


def _audit(stores) -> tuple[Counter, dict]:
    outcomes: Counter = Counter()
    contracts: dict = defaultdict(Counter)
    for row in stores.audit.rows():
        if row.event != "decision":
            continue
        body = json.loads(row.body)
        reason = body["reasons"][0] if body["reasons"] else "none"
        outcomes[(body["outcome"], reason)] += 1
        contracts[body["contract_id"]]["decisions"] += 1
    return outcomes, contracts


def report_files(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.suffix in (".html", ".json"))


def render(figures: dict, notes: list[str]) -> None:
    console.print(_models_table(figures["models"]))
    console.print(_outcomes_table(figures))
    console.print(_budget_table(figures["contracts"]))
    audit = {True: "verifies", False: "[bold red]does NOT verify[/]", None: "empty (no key yet)"}[
        figures["audit_ok"]
    ]
    console.print(
        f"review queue: {figures['review_queue']:,} pending   audit trail: {audit}   "
        f"decisions recorded: {figures['decisions']:,}"
    )
    for note in notes:
        console.print(note, soft_wrap=True)
    uri = figures["tracking_uri"]
    print_verbatim(f"MLflow runs and registry: {uri}")
    print_verbatim(f"open the MLflow UI: uv run mlflow ui --backend-store-uri {uri}")


def _models_table(models: dict) -> Table:
    table = Table(title="Registry aliases", box=box.SIMPLE_HEAD)
    for column in ("model", "champion", "challenger", "previous"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for kind, aliases in models.items():
        table.add_row(kind, *(f"v{v}" if v else "-" for v in aliases.values()))
    return table


def _outcomes_table(figures: dict) -> Table:
    rows = [(key, f"{n:,}") for key, n in figures["outcomes"].items()]
    table = Table(
        whole("outcome / first reason", [r[0] for r in rows]),
        whole("decisions", [r[1] for r in rows], "right"),
        title="Decisions by outcome / reason (audit trail)",
        box=box.SIMPLE_HEAD,
    )
    for row in rows:
        table.add_row(*map(Text, row))
    return table


def _budget_table(contracts: dict) -> Table:
    columns = ("decisions", "held", "committed", "released", "expired")
    rows = []
    for contract, f in contracts.items():
        cells = [contract, f"{f.get('decisions', 0):,}"]
        cells += [f"{f.get(f'{s}_points', 0):,} ({f.get(f'{s}_n', 0)})" for s in columns[1:]]
        rows.append(cells)
    table = Table(
        *(
            whole(h, [r[i] for r in rows], "left" if i == 0 else "right")
            for i, h in enumerate(("contract", *columns))
        ),
        title="Budget burn per contract (ledger, points)",
        box=box.SIMPLE_HEAD,
    )
    for row in rows:
        table.add_row(*map(Text, row))
    return table
