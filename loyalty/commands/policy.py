"""``loyalty policy ...``: validate, store, activate, roll back, compare and simulate policies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from loyalty.commands import policy_controls
from loyalty.commands._common import console, err_console, handle_errors, operator_identity

app = typer.Typer(
    help="Contract policies: validate, apply, roll back, diff, simulate.", no_args_is_help=True
)

ContractOption = Annotated[
    Path | None,
    typer.Option(
        "--contract",
        help="Feature contract (feature_contract.json, or the folder holding it) to check "
        "feature references against; default: the registered churn and risk models' contracts "
        "(champion, else challenger), or the product's customer feature set with no registry.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _store():
    from guardrails.ledger.home import open_policy_store
    from loyalty.settings import load_settings

    s = load_settings()
    return open_policy_store(s.ledger_database, s.home)


@app.command("validate")
@handle_errors
def validate(
    file: Annotated[Path, typer.Argument(help="Policy YAML file.")],
    contract: ContractOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a policy file: schema, dates, thresholds, budgets, CEL and feature references.

    Exit 0 when valid, 1 when invalid (each problem names the file, YAML path and value),
    2 when FILE or the feature contract cannot be read.
    """
    from guardrails.policy.validate import validate_file
    from loyalty.commands._policy_contract import policy_catalogue

    catalogue = policy_catalogue(contract)
    result = validate_file(file, catalogue=catalogue.features)
    if as_json:
        body = {
            "file": str(file),
            "valid": result.ok,
            "checked_against": catalogue.source,
            "version": result.compiled.version if result.compiled else None,
            "issues": [i.to_dict() for i in result.issues],
        }
        typer.echo(json.dumps(body, indent=2))
    elif result.ok and result.compiled is not None:
        compiled = result.compiled
        console.print(
            f"valid: {file} (contract {compiled.contract_id}, {len(compiled.offers)} offers, "
            f"version {compiled.version}); feature references checked against {catalogue.source}",
            style="bold green",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print(f"invalid: {file}: {len(result.issues)} problem(s)", style="bold red")
        for issue in result.issues:
            console.print(str(issue), markup=False, highlight=False, soft_wrap=True)
    if not result.ok:
        raise typer.Exit(code=1)


@app.command("apply")
@handle_errors
def apply(
    file: Annotated[Path, typer.Argument(help="Policy YAML file.")],
    contract: ContractOption = None,
) -> None:
    """Validate FILE, store it as an immutable version and make it the contract's active one.

    Applying the same content again changes nothing (and answers at once: that content passed
    validation when it was applied). Exit 2 when FILE is invalid (nothing stored).
    """
    from guardrails.policy.validate import validate_file
    from loyalty.commands._policy_contract import policy_catalogue

    active = _already_active(file)
    if active is not None:
        console.print(f"{active.contract_id}: version {active.version} is already active")
        return
    result = validate_file(file, catalogue=policy_catalogue(contract).features)
    compiled = result.raise_for_issues()
    done = _store().apply(compiled.policy, result.text, str(file), by=operator_identity())
    if not done.changed:
        console.print(f"{done.contract_id}: version {done.version} is already active")
        return
    was = f" (was {done.previous})" if done.previous else ""
    console.print(
        f"{done.contract_id}: version {done.version} stored and active{was}, by {done.by}"
    )


def _already_active(file: Path):
    """The store's active version of FILE's contract when it is exactly FILE's content, else
    None (also when FILE does not parse: the full validation reports why)."""
    from guardrails.policy.loading import check_document, content_hash, parse_yaml, read_text

    data, issues = parse_yaml(read_text(file), str(file))
    checked = None if issues else check_document(data, str(file))
    if checked is None or not checked.ok:
        return None
    active = _store().active(checked.policy.contract_id)
    if active is None or active.version != content_hash(checked.policy):
        return None
    return active


@app.command("rollback")
@handle_errors
def rollback(
    contract_id: Annotated[str, typer.Argument(metavar="CONTRACT", help="Contract id.")],
    to: Annotated[
        str | None,
        typer.Option("--to", help="Version (hash or unique prefix); default: the one before."),
    ] = None,
) -> None:
    """Activate an earlier stored version of a contract's policy."""
    done = _store().rollback(contract_id, to, by=operator_identity())
    if not done.changed:
        console.print(f"{contract_id}: version {done.version} is already active")
        return
    console.print(
        f"{contract_id}: rolled back to {done.version} (was {done.previous}), by {done.by}"
    )


@app.command("list")
@handle_errors
def list_versions(
    contract_id: Annotated[
        str | None, typer.Option("--contract-id", help="Only this contract.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show stored versions per contract, oldest first; * marks the active one."""
    rows = _store().versions(contract_id)
    if as_json:
        body = [
            {
                "contract_id": v.contract_id,
                "version": v.version,
                "active": active,
                "stored_at": v.stored_at,
                "source": v.source_name,
            }
            for v, active in rows
        ]
        typer.echo(json.dumps(body, indent=2))
        return
    if not rows:
        console.print("no policies stored yet: `loyalty policy apply FILE` stores one")
        return
    for v, active in rows:
        mark = "*" if active else " "
        line = f"{mark} {v.contract_id:<12} {v.version}  {v.stored_at}  {v.source_name}"
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@app.command("diff")
@handle_errors
def diff(
    a: Annotated[str, typer.Argument(help="Policy file, or a stored version (hash or prefix).")],
    b: Annotated[str, typer.Argument(help="Policy file, or a stored version (hash or prefix).")],
    as_json: JsonOption = False,
) -> None:
    """Show what changed from A to B, path by path (offers matched by offer_id)."""
    from guardrails.policy.diff import diff_documents

    changes = diff_documents(_document(a), _document(b))
    if as_json:
        typer.echo(json.dumps([c.to_dict() for c in changes], indent=2, default=str))
    elif not changes:
        console.print("no changes")
    for change in [] if as_json else changes:
        console.print(str(change), markup=False, highlight=False, soft_wrap=True)


def _document(ref: str) -> dict:
    from guardrails.policy.loading import load_policy

    if Path(ref).is_file():
        return load_policy(Path(ref)).document()
    return _store().get(ref).document


FeaturesOption = Annotated[
    Path,
    typer.Option(
        "--features",
        help="Customer feature table (Parquet file or folder, or CSV; a dataset's "
        "DIR/churn/data works): customer_id, partner_id, the features, and as_of unless --at "
        "is given.",
    ),
]
ScoresOption = Annotated[
    Path | None,
    typer.Option(
        "--scores",
        help="Scores: a `loyalty score-batch --out` folder of the same feature table "
        "(customers/, offers/), or a table keyed by customer_id (and as_of) with churn, risk, "
        "propensity or propensity:<offer_id> (or offer_id and propensity). Default: those "
        "columns in the feature table.",
    ),
]
AsOfOption = Annotated[
    str,
    typer.Option(
        "--as-of",
        help="Which rows of a table with several snapshots to decide for: last (the rows of "
        "its latest as_of: a dataset's last snapshot), all (every row, each at its own "
        "as_of), or a DATE (that snapshot).",
    ),
]
AtOption = Annotated[str | None, typer.Option("--at", help="Decision time for every row (DATE).")]
ChannelOption = Annotated[str | None, typer.Option("--channel", help="Request channel.")]
PartnerOption = Annotated[
    str | None, typer.Option("--partner", help="Requesting partner (default: the contract's).")
]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Folder for decisions.parquet and summary.json.")
]


@app.command("simulate")
@handle_errors
def simulate(
    policy: Annotated[
        str, typer.Argument(help="Policy file, or a contract id whose active version to use.")
    ],
    features: FeaturesOption,
    scores: ScoresOption = None,
    as_of: AsOfOption = "last",
    at: AtOption = None,
    channel: ChannelOption = None,
    partner: PartnerOption = None,
    contract: ContractOption = None,
    out: OutOption = None,
    all_customers: Annotated[
        bool,
        typer.Option(
            "--all-customers",
            help="Decide for every row, not only the contract partner's customers (partner_id).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run a policy over the contract's customers and their scores without touching any ledger:
    who gets what, budget burn per period, and how often each rule binds.

    With several snapshots per customer (a dataset, and score-batch output of it), the last
    snapshot is decided for unless --as-of says otherwise; each row is decided at its as_of.
    Exit 2 when a table, column or row cannot be used (the message names it).
    """
    from loyalty.commands._policy_sim import run_simulation, summary_lines

    summary = run_simulation(
        policy, features, scores, at, channel, partner, contract, out, all_customers, as_of
    )
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    for line in summary_lines(summary):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if out is not None:
        err_console.print(f"decisions and summary written to {out}")


app.command("pause")(policy_controls.pause)
app.command("resume")(policy_controls.resume)
