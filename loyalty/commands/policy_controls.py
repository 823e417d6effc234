"""``loyalty policy pause|resume CONTRACT``: stop and restart a contract's spending, audited."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from loyalty.commands._common import console, handle_errors, operator_identity

if TYPE_CHECKING:
    from guardrails.policy.controls import ContractControls

ContractArg = Annotated[str, typer.Argument(metavar="CONTRACT", help="Contract id.")]
ReasonOption = Annotated[
    str | None, typer.Option("--reason", help="Why (stored with the audit record).")
]


@handle_errors
def pause(contract_id: ContractArg, reason: ReasonOption = None) -> None:
    """Pause a contract's spending (audited under LOYALTY_OPERATOR, else the OS login).

    Every decision under it is no_offer with the reason 'paused', and nothing is reserved,
    until it resumes; what was granted stands."""
    with _controls(contract_id) as controls:
        done = controls.pause(contract_id, operator_identity(), reason)
    when = done.at.isoformat().replace("+00:00", "Z")
    console.print(f"{contract_id}: spending paused at {when} by {done.by}", highlight=False)


@handle_errors
def resume(contract_id: ContractArg, reason: ReasonOption = None) -> None:
    """Resume a paused contract's spending (audited under the operator identity)."""
    with _controls(contract_id) as controls:
        controls.resume(contract_id, operator_identity(), reason)
    console.print(f"{contract_id}: spending resumed", highlight=False)


@contextmanager
def _controls(contract_id: str) -> Iterator[ContractControls]:
    """The contract controls of the configured ledger database, for a contract with a policy."""
    from guardrails.policy.controls import ContractControls
    from guardrails.policy.store import PolicyStore
    from loyalty.commands.ledger import open_stores_from_settings
    from loyalty.errors import InputError

    with open_stores_from_settings(write=True) as stores:
        db = stores.ledger.db
        if PolicyStore(db).active(contract_id) is None:
            raise InputError(f"no active policy for contract {contract_id!r}: nothing to pause")
        yield ContractControls(db, stores.audit)
