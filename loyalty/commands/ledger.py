"""``loyalty ledger ...``: budget balances, expiry sweep and reconciliation of the ledger."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from loyalty.commands._common import console, handle_errors
from loyalty.errors import InputError

if TYPE_CHECKING:
    from guardrails.ledger.stores import Stores

app = typer.Typer(help="The budget ledger: balances, expiry, reconciliation.", no_args_is_help=True)


def open_stores_from_settings(*, write: bool) -> Stores:
    """The configured ledger, review queue and audit trail (``serving.settings``), with their
    keys; key files are created only when ``write`` is set."""
    from loyalty.settings import load_settings
    from serving.settings import open_guardrail_stores

    return open_guardrail_stores(load_settings(), write=write)


@app.command("balances")
@handle_errors
def balances(
    kind: Annotated[
        str | None,
        typer.Option(
            help="Only this scope kind: contract, partner, customer, offer, cap, contact, or a "
            "money twin (contract_money, partner_money, customer_money, offer_money)."
        ),
    ] = None,
    period: Annotated[str | None, typer.Option(help="Only this period key, e.g. 2025Q3.")] = None,
    prefix: Annotated[
        str | None, typer.Option(help="Only scopes whose id starts with this, e.g. contract:C-P1.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Budget use per scope: limit, held, committed and available."""
    from guardrails.ledger import ScopeKind

    try:
        scope_kind = ScopeKind(kind) if kind else None
    except ValueError as exc:
        choices = ", ".join(k.value for k in ScopeKind)
        raise InputError(f"unknown scope kind {kind!r}; choose one of: {choices}") from exc
    with open_stores_from_settings(write=False) as stores:
        rows = stores.ledger.balances(scope_kind, period, prefix)
    if as_json:
        out = [
            {"scope": b.scope, "kind": b.kind.value, "period": b.period, "limit": b.limit}
            | {"reserved": b.reserved, "committed": b.committed, "available": b.available}
            for b in rows
        ]
        typer.echo(json.dumps(out, indent=2))
        return

    table = Table("scope", "limit", "held", "committed", "available")
    for b in rows:
        limit = "-" if b.limit is None else f"{b.limit:,}"
        available = "-" if b.available is None else f"{b.available:,}"
        table.add_row(b.scope, limit, f"{b.reserved:,}", f"{b.committed:,}", available)
    console.print(table if rows else "no budget used yet")


@app.command("expire")
@handle_errors
def expire() -> None:
    """Release holds whose TTL has passed and expire overdue reviews (the service does this too)."""
    with open_stores_from_settings(write=True) as stores:
        reviews = stores.reviews.expire()
        holds = stores.ledger.expire()
    console.print(f"expired {reviews} review(s) and {holds} other hold(s)")


@app.command("check")
@handle_errors
def check() -> None:
    """Recompute every balance from the journal and the reservations; exit 1 on a mismatch."""
    with open_stores_from_settings(write=False) as stores:
        problems = stores.ledger.reconcile()
    for problem in problems:
        console.print(problem, markup=False, highlight=False)
    if problems:
        raise typer.Exit(code=1)
    console.print("balances reconcile with the journal and the reservations", style="bold green")
