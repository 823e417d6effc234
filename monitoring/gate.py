"""The promotion gate: measure the challenger (against the champion where there is one) and
judge every check with the pure rules of ``gate_rules``.

The measurements: quality on the dataset's last snapshot (the most recent labelled rows, the same
rows for both models), drift of the challenger's training reference against those rows,
behavioural tests on a sample of them, the guardrail replay over the same snapshot's customers,
and shadow agreement where the service recorded shadow scores.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import InputError
from monitoring import gate_rules as rules
from monitoring.behaviour import run_behaviour
from monitoring.config import DriftConfig, GateConfig, MonitoringConfig
from monitoring.drift_run import compare, reference_from_frame, split_types
from monitoring.gate_inputs import (
    Model,
    Recent,
    active_policies,
    customer_rows,
    label_of,
    load_model,
    recent_rows,
    replay_models,
)
from monitoring.gate_result import GateResult, Quality
from monitoring.quality import window_metrics
from monitoring.registry import CHALLENGER, CHAMPION, reference_sample, require_version
from monitoring.replay import replay
from monitoring.shadow import agreement, recorded
from monitoring.tables import Sample, sample_frame


@dataclass(frozen=True)
class GateRequest:
    kind: str
    dataset: Path
    config: MonitoringConfig
    approved_by: str | None = None
    config_path: str | None = None


def evaluate(settings, client, request: GateRequest, report=lambda text: None) -> GateResult:
    """Every check of the gate for the kind's challenger (``to_dict()``: its JSON)."""
    kind, gate = request.kind, request.config.gate_for(request.kind)
    challenger, champion = _models(settings, client, kind)
    report(f"{kind}: scoring the last snapshot of {request.dataset}")
    label = label_of(challenger)
    recent = recent_rows(request.dataset, kind, label, challenger.package.feature_names)
    scores = challenger.score(recent.frame)
    quality = _quality(recent, scores, champion, label)
    checks = [
        rules.approval_check(gate.approval.required, gate.approval.approvers, request.approved_by),
        *rules.absolute_checks(
            quality.challenger, gate.absolute.min_roc_auc, gate.absolute.max_ece
        ),
        *rules.quality_checks(
            quality.challenger,
            quality.champion,
            gate.quality.max_roc_auc_drop,
            gate.quality.max_ece_increase,
        ),
    ]
    report(f"{kind}: drift of the challenger's training reference")
    scored = recent.frame.assign(prediction=scores)
    drift = _drift(client, challenger, scored, recent.path, gate, request.config.drift)
    checks += rules.drift_checks(drift, gate.drift.max_drifted_share, gate.drift.max_prediction_psi)
    report(f"{kind}: behavioural tests and guardrail replay")
    checks += rules.behaviour_checks(_behaviour(challenger, recent, gate))
    checks += _replay(settings, client, request, gate, challenger, champion)
    checks += _shadow(settings, kind, gate, challenger, champion)
    return _result(request, challenger, champion, recent, quality, drift, checks)


def _models(settings, client, kind: str) -> tuple[Model, Model | None]:
    """The challenger (required) and the champion (None for a first model)."""
    require_version(client, settings.model_name(kind), CHALLENGER)
    challenger = load_model(settings, client, kind, CHALLENGER)
    if challenger is None:  # the alias moved away since require_version read it
        raise InputError(f"{settings.model_name(kind)} has no {CHALLENGER} version")
    champion = load_model(settings, client, kind, CHAMPION)
    if champion is not None and champion.version == challenger.version:
        raise InputError(f"{challenger.name} v{challenger.version} is already the champion")
    return challenger, champion


def _result(
    request: GateRequest,
    challenger: Model,
    champion: Model | None,
    recent: Recent,
    quality: Quality,
    drift: dict,
    checks: list[rules.Check],
) -> GateResult:
    return GateResult(
        kind=request.kind,
        model=challenger.name,
        challenger=challenger.version_info(),
        champion=None if champion is None else champion.version_info(),
        checks=tuple(checks),
        dataset=str(request.dataset),
        window=recent.window.isoformat(),
        rows=len(recent.frame),
        quality=quality,
        drift={k: v for k, v in drift.items() if k != "per_feature"},
        evaluated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        approved_by=request.approved_by,
        config=request.config_path or "default",
    )


def _quality(recent: Recent, scores: np.ndarray, champion: Model | None, label: str) -> Quality:
    truth = recent.frame[label].to_numpy(dtype=np.int64)
    if champion is None:
        return Quality(window_metrics(truth, scores))
    return Quality(
        window_metrics(truth, scores), window_metrics(truth, champion.score(recent.frame))
    )


def _drift(client, challenger: Model, scored: pd.DataFrame, path, gate, base: DriftConfig):
    """The challenger's logged reference sample against the recent rows (with its scores)."""
    config = base.model_copy(
        update={
            "threshold": gate.drift.threshold,
            "per_feature": {},
            "drift_share": gate.drift.max_drifted_share,
            "prediction_threshold": gate.drift.max_prediction_psi,
            "max_rows": gate.drift.max_rows,
            "seed": gate.seed,
        }
    )
    logged = reference_sample(client, challenger.run_id)
    source = f"{challenger.name} v{challenger.version} reference sample"
    ref = reference_from_frame(logged, source, config)
    if "prediction" not in ref.frame.columns:
        frame = ref.frame.assign(prediction=challenger.score(ref.frame))
        ref = Sample(frame, ref.path, ref.total, ref.seed, ref.max_rows)
    kept = sample_frame(scored, config.max_rows, config.seed + 1)
    current = Sample(kept, str(path), len(scored), config.seed + 1, config.max_rows)
    numerical, categorical = split_types(challenger.package.contract)
    _, summary = compare(ref, current, numerical, categorical, "prediction", config, render=False)
    return summary


def _behaviour(challenger: Model, recent, gate: GateConfig) -> list[dict]:
    rows = sample_frame(recent.frame, gate.behaviour.rows, gate.seed)
    categorical = list(challenger.package.categories)
    return run_behaviour(challenger.score, rows, challenger.kind, categorical, gate.behaviour)


def _replay(settings, client, request, gate: GateConfig, challenger, champion) -> list:
    limits = (
        gate.replay.max_budget_lead,
        gate.replay.max_offer_mix_shift,
        gate.replay.max_review_rate_increase,
        gate.replay.required,
    )
    policies = active_policies(settings)
    if not policies:
        reason = "no active contract policy (`loyalty policy apply FILE`)"
        return rules.replay_checks(None, *limits, reason=reason)
    rows = customer_rows(request.dataset, gate.replay.max_rows, gate.seed)
    if rows is None:
        return rules.replay_checks(None, *limits, reason="the dataset has no customer rows")
    candidate, baseline, missing = replay_models(
        settings, client, request.kind, challenger, champion
    )
    if missing:
        reason = f"no registered {' or '.join(missing)} model to score the decisions"
        return rules.replay_checks(None, *limits, reason=reason)
    return rules.replay_checks(replay(policies, rows, candidate, baseline), *limits)


def _shadow(settings, kind: str, gate: GateConfig, challenger, champion) -> list:
    limits = (
        gate.shadow.min_rows,
        gate.shadow.max_mean_abs_diff,
        gate.shadow.min_rank_correlation,
        gate.shadow.required,
    )
    if champion is None:
        return rules.shadow_checks(None, *limits)
    frame = recorded(
        settings.home, settings.ledger_database, kind, champion.version, challenger.version
    )
    return rules.shadow_checks(agreement(frame), *limits)
