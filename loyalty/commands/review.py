"""``loyalty review ...``: the human review queue (the service exposes the same API over HTTP)."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer
from rich.table import Column, Table
from rich.text import Text

from loyalty.commands._common import console, handle_errors, operator_identity, whole
from loyalty.commands.ledger import open_stores_from_settings

app = typer.Typer(help="The human review queue for high-risk decisions.", no_args_is_help=True)

ReviewId = Annotated[str, typer.Argument(help="Review id, as `loyalty review list` shows it.")]
Note = Annotated[str | None, typer.Option("--note", help="Why, for the audit trail.")]


@app.command("list")
@handle_errors
def list_reviews(
    show_all: Annotated[
        bool, typer.Option("--all", help="Include approved, rejected and expired reviews.")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, help="At most this many reviews.")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Pending reviews, oldest first (overdue ones are expired first, releasing their budget)."""
    with open_stores_from_settings(write=True) as stores:
        stores.reviews.expire()
        reviews = stores.reviews.list(None if show_all else "pending", limit)
    if as_json:
        typer.echo(json.dumps([r.__dict__ for r in reviews], indent=2, default=str))
        return
    if not reviews:
        console.print("no reviews" if show_all else "no pending reviews")
        return

    now, rows = time.time(), []
    for r in reviews:
        left = r.expires_at - now
        expires = f"{left / 60:,.0f} min" if r.status == "pending" and left > 0 else "-"
        s = r.summary
        rows.append((
            r.id, r.decision_id, r.status, r.reason, str(s.get("contract_id", "-")),
            str(s.get("offer_id", "-")), str(s.get("points", "-")), expires,
        ))  # fmt: skip
    # the review id is what `review approve` takes: whole on one line; the rest may fold
    folded = (Column(h, overflow="fold") for h in ("decision", "status", "reason", "contract",
                                                   "offer", "points", "expires in"))  # fmt: skip
    table = Table(whole("id", [row[0] for row in rows]), *folded)
    for row in rows:
        table.add_row(*map(Text, row))  # reasons and summaries are data, never markup
    console.print(table)


@app.command("approve")
@handle_errors
def approve(review_id: ReviewId, note: Note = None) -> None:
    """Approve: the held budget is committed and the approval is audited under the configured
    operator identity (LOYALTY_OPERATOR, else the OS login)."""
    with open_stores_from_settings(write=True) as stores:
        review = stores.reviews.approve(review_id, operator_identity(), note)
    console.print(f"review {review.id} approved by {review.resolved_by}; budget committed")


@app.command("reject")
@handle_errors
def reject(review_id: ReviewId, note: Note = None) -> None:
    """Reject: the held budget is released and the rejection is audited under the configured
    operator identity (LOYALTY_OPERATOR, else the OS login)."""
    with open_stores_from_settings(write=True) as stores:
        review = stores.reviews.reject(review_id, operator_identity(), note)
    console.print(f"review {review.id} rejected by {review.resolved_by}; budget released")
