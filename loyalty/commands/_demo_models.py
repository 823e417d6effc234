"""The demo's governance steps: policies into the store, a drift report per challenger, the
promotion gate, and promotion of what passes.

A rerun does not gate a version twice: a challenger that is already the champion, or that was
gated before (its ``gate_verdict`` tag), is reported and left as it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from loyalty.commands._common import console, operator_identity, print_verbatim
from loyalty.commands._demo_data import KINDS, Steps
from loyalty.commands._train_run import quiet_mlflow
from loyalty.commands.promote import checks_table, figure, gate_document, notes
from loyalty.errors import LoyaltyError

if TYPE_CHECKING:
    from monitoring.gate_rules import Check

say = print_verbatim  # lines with paths and figures: never wrapped, never read as markup
DRIFT_MAX_ROWS = 5000  # per side: enough for the report, a fraction of the time


@dataclass
class Governance:
    """What the governance steps did, per kind, for the summary."""

    drift: dict[str, str] = field(default_factory=dict)  # kind -> drift.html
    drift_found: dict[str, bool] = field(default_factory=dict)  # kind -> the report's verdict
    gate: dict[str, str] = field(default_factory=dict)  # kind -> verdict text
    files: dict[str, str] = field(default_factory=dict)  # kind -> gate JSON
    config_path: str | None = None  # recorded with each gate run

    def champions_missing(self, client, settings) -> list[str]:
        from monitoring.registry import version_by_alias

        return [
            k for k in KINDS if version_by_alias(client, settings.model_name(k), "champion") is None
        ]


def apply_policies(events: Path, step: Steps) -> list[str]:
    """Apply every contract policy of the simulation; the same content is not a new version."""
    from guardrails.ledger.home import open_policy_store
    from guardrails.policy.validate import validate_file
    from loyalty.settings import load_settings

    files = sorted((events / "policies").glob("*.yaml"))
    step(f"applying {len(files)} contract policies to the policy store")
    s = load_settings()
    store, lines = open_policy_store(s.ledger_database, s.home), []
    for path in files:
        result = validate_file(path, None)
        try:
            compiled = result.raise_for_issues()
        except LoyaltyError as exc:  # the other contracts still get their policy
            console.print(f"    [bold red]{path.stem} not applied:[/] {escape(str(exc))}")
            continue
        done = store.apply(compiled.policy, result.text, str(path), by=operator_identity())
        state = "stored and active" if done.changed else "already active"
        lines.append(f"{done.contract_id} {done.version} {state}")
    console.print("    " + "; ".join(lines))
    return lines


def govern(settings, datasets: Path, reports: Path, step: Steps, config_path=None) -> Governance:
    """Drift report, then gate (and promotion on pass), for each kind's challenger."""
    from monitoring.config import load_config
    from monitoring.registry import connect

    quiet_mlflow()
    client, config = connect(settings.tracking_uri), load_config(config_path)
    config.drift.max_rows = min(config.drift.max_rows, DRIFT_MAX_ROWS)
    todo = {k: v for k in KINDS if (v := _to_gate(client, settings, k)) is not None}
    out = Governance(config_path=str(config_path) if config_path else None)
    if todo:
        step(f"drift reports for {', '.join(todo)} (last snapshot vs training)")
    else:
        step("no new challenger: the drift reports are up to date")
    for kind in todo:
        out.drift[kind] = _guarded(_drift, settings, client, config, kind, datasets, reports, out)
    step(f"promotion gate for {', '.join(todo)}" if todo else "no new challenger: nothing to gate")
    for kind in KINDS:
        out.gate[kind] = (
            _guarded(_gate, settings, client, config, kind, datasets, reports, out)
            if kind in todo
            else _earlier(client, settings, kind)
        )
        console.print(f"    {kind}: {out.gate[kind]}", soft_wrap=True)
    return out


def _guarded(fn, *args) -> str:
    """A step's result, or what stopped it (the demo goes on with the other kinds)."""
    try:
        return fn(*args)
    except LoyaltyError as exc:
        console.print(
            f"    [bold red]{fn.__name__.strip('_')} failed for {args[3]}:[/] {escape(str(exc))}"
        )
        return f"[bold red]could not run:[/] {escape(str(exc))}"


def _to_gate(client, settings, kind: str):
    """The challenger version still to gate (None: none, already champion, or gated before)."""
    from monitoring.registry import version_by_alias

    name = settings.model_name(kind)
    challenger = version_by_alias(client, name, "challenger")
    champion = version_by_alias(client, name, "champion")
    if challenger is None or (champion is not None and champion.version == challenger.version):
        return None
    return None if challenger.tags.get("gate_verdict") else challenger


def _earlier(client, settings, kind: str) -> str:
    from monitoring.registry import version_by_alias

    name = settings.model_name(kind)
    challenger = version_by_alias(client, name, "challenger")
    champion = version_by_alias(client, name, "champion")
    if champion is not None and (challenger is None or champion.version == challenger.version):
        return f"v{champion.version} is already the champion (kept)"
    if challenger is None:
        return "no challenger registered"
    verdict = challenger.tags.get("gate_verdict", "?")
    kept = f"; champion stays v{champion.version}" if champion else "; no champion"
    return f"v{challenger.version} was gated before ({verdict}){kept}"


def _drift(settings, client, config, kind, datasets: Path, reports: Path, out: Governance) -> str:
    from monitoring.drift import verdict_line
    from monitoring.model_reports import drift_report, resolve_model
    from monitoring.tables import kind_data, last_snapshot, snapshot_filter

    model = resolve_model(settings, client, kind, "challenger")
    path = kind_data(datasets, kind)
    where = snapshot_filter(last_snapshot(path))
    with console.status(f"{kind}: drift of v{model.version} on the last snapshot"):
        summary = drift_report(settings, client, model, path, None, config, reports / kind, where)
    page = reports / kind / "drift.html"
    say(f"    {kind} v{model.version}: {verdict_line(summary)}")
    say(f"      report: {page}")
    out.drift_found[kind] = summary["drift_found"]
    if summary["drift_found"]:
        gate = config.gate_for(kind).drift
        say(
            f"      the gate judges drift on its own thresholds (gate.drift: a feature drifts at "
            f"score {gate.threshold}, the data at {gate.max_drifted_share:.0%} of the features, "
            f"the prediction at score {gate.max_prediction_psi}): its drift.features and "
            "drift.prediction checks below decide"
        )
    return str(page)


def _drift_passed(checks: Iterable[Check], found: bool) -> str:
    """Why a gate passed although the drift report found drift: its own checks' figures."""
    drift = [c for c in checks if c.name.startswith("drift.")]
    if not found or not drift:
        return ""
    figures = ", ".join(
        f"{c.name} {figure(c.value)} {c.comparison} {figure(c.threshold)}"
        if c.value is not None
        else f"{c.name} skipped"
        for c in drift
    )
    return f" (the drift the report found is within the gate's thresholds: {figures})"


def _gate(settings, client, config, kind, datasets: Path, reports: Path, out: Governance) -> str:
    from monitoring.gate import GateRequest, evaluate
    from monitoring.promotion import act

    with console.status(f"{kind}: gate") as status:
        request = GateRequest(kind, datasets, config, None, out.config_path)
        result = evaluate(settings, client, request, status.update)
        outcome = act(client, settings, result)
    console.print(checks_table(result))
    for line in notes(result):
        console.print(f"    {line}", markup=False, highlight=False, soft_wrap=True)
    path = reports / kind / "gate.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(gate_document(result, outcome), indent=2, default=str) + "\n")
    out.files[kind] = str(path)
    version = result.challenger.version
    if result.passed:
        return f"v{version} passed the gate: promoted to champion" + _drift_passed(
            result.checks, out.drift_found.get(kind, False)
        )
    return f"[bold red]v{version} failed the gate[/] ({', '.join(result.failed)}): not promoted"
