"""The work behind ``loyalty policy simulate``: read the tables, run the policy, report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from features.errors import InputError


def _read_table(path: Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    try:
        if path.is_file() and path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the table ({exc})") from exc


def _compiled(ref: str, contract: Path | None):
    from guardrails.policy.compiled import compile_policy
    from guardrails.policy.store import PolicyStore
    from guardrails.policy.validate import validate_file
    from loyalty.commands._policy_contract import policy_catalogue
    from loyalty.settings import load_settings

    catalogue = policy_catalogue(contract).features
    if Path(ref).is_file():
        return validate_file(Path(ref), catalogue=catalogue).raise_for_issues()
    stored = PolicyStore(load_settings().policy_store_path).active(ref)
    if stored is None:
        raise InputError(f"{ref!r} is neither a policy file nor a contract with an active policy")
    return compile_policy(stored.policy, catalogue, f"{ref}@{stored.version}")


def _with_scores(frame: pd.DataFrame, scores: Path | None) -> pd.DataFrame:
    if scores is None:
        return frame
    table = _read_table(scores)
    keys = [k for k in ("customer_id", "as_of") if k in table.columns and k in frame.columns]
    if "customer_id" not in keys:
        raise InputError(f"{scores}: the scores table needs a customer_id column")
    score_cols = [c for c in table.columns if c not in keys]
    merged = frame.drop(columns=[c for c in score_cols if c in frame.columns]).merge(
        table, on=keys, how="left", validate="many_to_one"
    )
    return merged


def run_simulation(
    policy, features, scores, at, channel, partner, contract, out, all_customers=False
) -> dict:
    """Simulate and return the summary; with ``out``, also write the decisions and summary.

    Only the contract's own customers are decided for unless ``all_customers`` is set.
    """
    from features.durations import DurationError, parse_timestamp
    from guardrails.policy.simulation import contract_rows, row_times, scores_from_columns, simulate

    compiled = _compiled(policy, contract)
    table = _read_table(features)
    frame = table if all_customers else contract_rows(compiled, table)
    if frame.empty:
        raise InputError(
            f"{features}: no rows of partner {compiled.policy.partner_id!r} (contract "
            f"{compiled.contract_id}) among {len(table):,}; --all-customers decides for every row"
        )
    frame = _with_scores(frame, scores)
    try:
        when = parse_timestamp(at).to_pydatetime() if at else None
    except DurationError as exc:
        raise InputError(f"--at: {exc}") from exc
    offer_ids = [o.offer.offer_id for o in compiled.offers]
    decisions, summary = simulate(
        compiled, frame, scores_from_columns(frame, offer_ids), row_times(frame, when),
        channel, partner,
    )  # fmt: skip
    summary = {"rows_in_table": len(table), "rows_simulated": len(frame), **summary}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        decisions.to_parquet(out / "decisions.parquet", index=False)
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def summary_lines(summary: dict) -> list[str]:
    """The summary as lines of text for the terminal."""
    n = max(summary["decisions"], 1)
    lines = [
        f"{summary['rows_simulated']:,} of {summary['rows_in_table']:,} rows are the contract's "
        "customers",
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
