"""The work behind ``loyalty policy simulate``: read the tables, run the policy, report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from features.errors import InputError


def _read_table(path: Path, what: str = "") -> pd.DataFrame:
    import pyarrow as pa

    path = Path(path)
    name = f"{what} {path}".strip()
    if not path.exists():
        raise InputError(f"{name}: no such file or folder")
    try:
        if path.is_file() and path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except (OSError, ValueError, TypeError, pa.ArrowException) as exc:
        raise InputError(f"{name}: cannot read the table ({exc})") from exc


def _compiled(ref: str, contract: Path | None):
    from guardrails.ledger.home import open_policy_store
    from guardrails.policy.compiled import compile_policy
    from guardrails.policy.validate import validate_file
    from loyalty.commands._policy_contract import policy_catalogue
    from loyalty.settings import load_settings

    catalogue = policy_catalogue(contract).features
    if Path(ref).is_file():
        return validate_file(Path(ref), catalogue=catalogue).raise_for_issues()
    s = load_settings()
    stored = open_policy_store(s.ledger_database, s.home).active(ref)
    if stored is None:
        raise InputError(f"{ref!r} is neither a policy file nor a contract with an active policy")
    return compile_policy(stored.policy, catalogue, f"{ref}@{stored.version}")


def read_scores(path: Path) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """(customer scores, (customer, offer) propensities) from ``--scores``: a score-batch output
    folder (``customers/``, and ``offers/`` when it scored offers), or one table: wide (churn,
    risk, propensity, propensity:<offer_id>) or long (offer_id and propensity)."""
    from guardrails.policy.sim_inputs import check_scores, is_score_column

    path = Path(path)
    if path.is_dir() and (path / "customers").is_dir():
        customers = _read_table(path / "customers", "--scores")
        offers = path / "offers"
        pairs = _read_table(offers, "--scores") if offers.is_dir() else None
        check_scores(customers, f"--scores {path / 'customers'}")
        if pairs is not None:
            check_scores(pairs, f"--scores {offers}")
        return customers, pairs
    table = _read_table(path, "--scores")
    check_scores(table, f"--scores {path}")
    if "offer_id" in table.columns:
        return None, table
    if not any(is_score_column(c) for c in table.columns):
        columns = list(table.columns)[:12]
        raise InputError(
            f"--scores {path}: no score column (churn, risk, propensity or "
            f"propensity:<offer_id>; or offer_id with propensity); it has {columns}"
        )
    return table, None


def run_simulation(
    policy,
    features,
    scores,
    at,
    channel,
    partner,
    contract,
    out,
    all_customers=False,
    as_of: str = "last",
) -> dict:
    """Simulate and return the summary; with ``out``, also write the decisions and summary.

    ``as_of`` picks the rows of a table with several snapshots (``last``, ``all`` or a DATE).
    Only the contract's own customers are decided for unless ``all_customers`` is set.
    """
    from features.durations import DurationError, parse_timestamp
    from guardrails.policy.sim_inputs import ALL, LAST, attach_scores, select_rows
    from guardrails.policy.simulation import contract_rows, row_times, scores_from_columns, simulate

    try:
        when = parse_timestamp(at).to_pydatetime() if at else None
        snapshot = as_of if as_of in (LAST, ALL) else parse_timestamp(as_of)
    except DurationError as exc:
        raise InputError(f"--at / --as-of: {exc} (--as-of also takes last or all)") from exc
    compiled = _compiled(policy, contract)
    offer_ids = [o.offer.offer_id for o in compiled.offers]
    table = _read_table(features, "--features")
    if scores is not None:
        customers, pairs = read_scores(scores)
        where = f"--scores {scores}"
        table = attach_scores(table, customers, pairs, compiled.policy.partner_id, offer_ids, where)
    chosen = select_rows(table, snapshot)
    frame = chosen if all_customers else contract_rows(compiled, chosen)
    if frame.empty:
        raise InputError(
            f"{features}: no rows of partner {compiled.policy.partner_id!r} (contract "
            f"{compiled.contract_id}) among {len(chosen):,}; --all-customers decides for every row"
        )
    decisions, summary = simulate(
        compiled, frame, scores_from_columns(frame, offer_ids), row_times(frame, when),
        channel, partner,
    )  # fmt: skip
    summary = {
        "rows_in_table": len(table),
        "rows_chosen": len(chosen),
        "as_of": _as_of_label(chosen, snapshot),
        "rows_simulated": len(frame),
        **summary,
    }
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        decisions.to_parquet(out / "decisions.parquet", index=False)
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _as_of_label(chosen: pd.DataFrame, snapshot) -> str | None:
    """The snapshot decided for (ISO), ``all``, or None for a table without as_of."""
    if isinstance(snapshot, str) and snapshot == "all":
        return "all"
    if "as_of" not in chosen.columns:
        return None
    from guardrails.policy.sim_inputs import stamp_text

    return stamp_text(pd.to_datetime(chosen["as_of"], utc=True).iloc[0])


def summary_lines(summary: dict) -> list[str]:
    """The summary as lines of text for the terminal."""
    n = max(summary["decisions"], 1)
    snapshot = summary.get("as_of")
    chosen = (
        f"{summary['rows_chosen']:,} rows at {snapshot}"
        if snapshot not in (None, "all")
        else f"{summary['rows_chosen']:,} rows"
    )
    lines = [
        f"{summary['rows_in_table']:,} rows in the table, {chosen}, {summary['rows_simulated']:,} "
        "of them the contract's customers",
        f"contract {summary['contract_id']} (policy {summary['policy_version']}): "
        f"{summary['decisions']:,} decisions, {summary['offers']:,} offers "
        f"({summary['offers'] / n:.1%}), {summary['no_offer']:,} without",
        "routes: " + ", ".join(f"{k} {v:,}" for k, v in sorted(summary["routes"].items())),
        "who gets what:",
    ]
    for oid, row in sorted(summary["by_offer"].items()):
        lines.append(f"  {oid:<16} {row['grants']:>8,} grants {row['points']:>12,} points")
    lines.append("budget burn per period:")
    for row in summary["budget_burn"]:
        lines.append(
            f"  {row['period']:<8} {row['points']:>12,} of {row['budget_points']:,} points "
            f"({row['share']:.1%}), {row['money']:,.2f}"
        )
    lines.append("rules that bound (decisions or offers excluded):")
    for rule, count in summary["rule_binds"].items():
        lines.append(f"  {count:>8,}  {rule}")
    return lines
