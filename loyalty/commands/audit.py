"""``loyalty audit ...``: verify the tamper-evident audit trail, export it, export its head."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from loyalty.commands._common import console, err_console, handle_errors, print_verbatim
from loyalty.commands.ledger import open_stores_from_settings
from loyalty.errors import InputError, LoyaltyError

if TYPE_CHECKING:
    from guardrails.audit import Head, Verdict

app = typer.Typer(help="The audit trail: verify, export, head.", no_args_is_help=True)


def _read_head(path: Path) -> Head:
    from guardrails.audit import Head

    try:
        data = json.loads(path.read_text())
        return Head(int(data["seq"]), str(data["chain_hash"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"cannot read an audit head from {path}: {exc}") from exc


def _verdict(expected: Head | None) -> Verdict:
    """Verify the configured trail; a missing embedded database is an empty trail."""
    from guardrails.audit import verify_rows
    from guardrails.ledger.db import sqlite_path
    from loyalty.settings import load_settings

    url = load_settings().ledger_database
    if url.startswith("sqlite:") and not sqlite_path(url).exists():
        return verify_rows(b"", [], expected)
    with open_stores_from_settings(write=False) as stores:
        if not stores.audit.has_key:
            if stores.audit.count() == 0:
                return verify_rows(b"", [], expected)
            raise LoyaltyError(
                "no audit key: set LOYALTY_AUDIT_KEY or restore the key file "
                f"{load_settings().keys_dir / 'audit.key'} (the one that signed the trail)"
            )
        return stores.audit.verify(expected)


@app.command("verify")
@handle_errors
def verify(
    head: Annotated[
        Path | None,
        typer.Option("--head", help="A head written earlier by `loyalty audit head --out`."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Recompute the chain with the key. Exit 0 intact (an empty trail is intact), 1 broken
    (the first bad record and why), 2 when the trail or the key cannot be read."""
    verdict = _verdict(_read_head(head) if head else None)
    if as_json:
        typer.echo(json.dumps(verdict.to_dict(), indent=2))
    elif verdict.ok:
        console.print(
            f"audit trail intact: {verdict.checked:,} record(s), head {verdict.head.seq} "
            f"{verdict.head.chain_hash}",
            style="bold green",
            highlight=False,
            soft_wrap=True,
        )
    else:
        err_console.print(
            f"[bold red]audit trail broken at record {verdict.bad_seq}:[/] {verdict.reason} "
            f"({verdict.checked:,} record(s) before it verified)",
            highlight=False,
            soft_wrap=True,
        )
    if not verdict.ok:
        raise typer.Exit(code=1)


@app.command("export")
@handle_errors
def export(
    out: Annotated[Path, typer.Option("--out", help="Output file: .jsonl or .parquet.")],
) -> None:
    """Write every record (signed fields plus chain hash) to JSON Lines or Parquet."""
    from guardrails.audit.export import FORMATS, export_rows

    if out.suffix not in FORMATS:
        raise InputError(f"unknown export format {out.suffix!r} for {out}: use .jsonl or .parquet")
    with open_stores_from_settings(write=False) as stores:
        try:
            count, head = export_rows(stores.audit.rows(), out)
        except OSError as exc:
            raise InputError(f"cannot write {out}: {exc}") from exc
    print_verbatim(f"exported {count:,} record(s) to {out}; head {head.seq} {head.chain_hash}")


@app.command("head")
@handle_errors
def head(
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the head to this JSON file.")
    ] = None,
) -> None:
    """Print the chain's head; keep it outside the database to detect truncation later."""
    with open_stores_from_settings(write=False) as stores:
        current = stores.audit.head()
    text = json.dumps(
        current.to_dict() | {"exported_at": datetime.now(UTC).isoformat(timespec="seconds")}
    )
    if out is not None:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text + "\n")
        except OSError as exc:
            raise InputError(f"cannot write {out}: {exc}") from exc
    typer.echo(text)
