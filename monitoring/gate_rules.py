"""The promotion gate's rules: pure functions from measured values and thresholds to verdicts.

Every check is a ``Check`` (name, value, threshold, comparison, verdict, rows, detail). A check
that cannot be computed (no champion to compare with, no shadow traffic) is ``skip``: it neither
passes nor blocks, unless the config makes its input required. The gate passes when no check fails.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass(frozen=True)
class Check:
    name: str
    value: float | str | None
    threshold: float | str | None
    comparison: str  # ">=", "<=", "==" or "-"
    verdict: str
    rows: int
    detail: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def at_least(name: str, value: float, threshold: float, rows: int, detail: str = "") -> Check:
    """Pass when ``value >= threshold``; a missing or NaN value fails (it proves nothing)."""
    ok = value is not None and not math.isnan(value) and value >= threshold
    return Check(name, _round(value), threshold, ">=", PASS if ok else FAIL, rows, detail)


def at_most(name: str, value: float, threshold: float, rows: int, detail: str = "") -> Check:
    """Pass when ``value <= threshold``; a missing or NaN value fails."""
    ok = value is not None and not math.isnan(value) and value <= threshold
    return Check(name, _round(value), threshold, "<=", PASS if ok else FAIL, rows, detail)


def skipped(name: str, reason: str, required: bool = False) -> Check:
    """Nothing to measure; a required input that is missing fails instead."""
    return Check(name, None, None, "-", FAIL if required else SKIP, 0, reason)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def approval_check(required: bool, approvers: list[str], approved_by: str | None) -> Check:
    """A named human approval when the config requires one (from the listed approvers, if any)."""
    name = "approval"
    who = (approved_by or "").strip()
    allowed = ", ".join(approvers) if approvers else "any named person"
    if not required:
        return Check(name, who or None, "not required", "-", SKIP if not who else PASS, 0, "")
    if not who:
        detail = "approval required: the configured operator identity (LOYALTY_OPERATOR)"
        return Check(name, None, allowed, "==", FAIL, 0, detail)
    ok = not approvers or who in approvers
    detail = "" if ok else f"{who!r} is not an approver"
    return Check(name, who, allowed, "==", PASS if ok else FAIL, 0, detail)


def absolute_checks(
    metrics: Mapping[str, float], min_roc_auc: float, max_ece: float
) -> list[Check]:
    """The challenger alone on the recent labelled rows: floors any model must clear."""
    rows = int(metrics["rows"])
    return [
        at_least("absolute.roc_auc", metrics["roc_auc"], min_roc_auc, rows),
        at_most("absolute.ece", metrics["ece"], max_ece, rows),
    ]


def quality_checks(
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    max_auc_drop: float,
    max_ece_increase: float,
) -> list[Check]:
    """Challenger versus champion on the same rows: not worse beyond the tolerances."""
    if champion is None:
        reason = "no champion: the absolute checks decide"
        return [skipped("quality.roc_auc", reason), skipped("quality.ece", reason)]
    rows = int(challenger["rows"])
    drop = champion["roc_auc"] - challenger["roc_auc"]
    rise = challenger["ece"] - champion["ece"]
    return [
        at_most(
            "quality.roc_auc",
            drop,
            max_auc_drop,
            rows,
            f"champion {champion['roc_auc']:.4f}, challenger {challenger['roc_auc']:.4f}",
        ),
        at_most(
            "quality.ece",
            rise,
            max_ece_increase,
            rows,
            f"champion {champion['ece']:.4f}, challenger {challenger['ece']:.4f}",
        ),
    ]


def drift_checks(summary: dict, max_share: float, max_prediction: float) -> list[Check]:
    """Challenger's training reference versus current rows. The verdicts are the Evidently
    tests' status (share of drifted features < max, score PSI < max), not re-read raw values."""
    rows = int(summary["current"]["rows_used"])
    drifted = [f["feature"] for f in summary["per_feature"] if f["drifted"]]
    shown = ", ".join(drifted[:8]) + (" ..." if len(drifted) > 8 else "")
    detail = f"{len(drifted)} of {summary['features']} features drifted"
    out = [
        Check(
            "drift.features",
            _round(summary["drifted_share"]),
            max_share,
            "<",
            FAIL if summary["dataset_drift"] else PASS,
            rows,
            f"{detail}: {shown}" if drifted else detail,
        )
    ]
    pred = summary.get("prediction")
    if pred is None:
        out.append(skipped("drift.prediction", "no prediction to compare"))
    else:
        verdict = FAIL if pred["drifted"] else PASS
        out.append(Check("drift.prediction", pred["score"], max_prediction, "<", verdict, rows))
    return out


def behaviour_checks(results: list[dict]) -> list[Check]:
    """Behavioural tests: each result has name, value, threshold and rows (value <= threshold)."""
    return [
        at_most(
            f"behaviour.{r['name']}", r["value"], r["threshold"], r["rows"], r.get("detail", "")
        )
        for r in results
    ]


def replay_checks(
    result: dict | None,
    max_budget_lead: float,
    max_mix_shift: float,
    max_review_increase: float,
    required: bool,
    reason: str = "",
) -> list[Check]:
    """Guardrail replay against the champion's on the same decision points: budget spent no
    faster, offer mix and review rate close. Nothing to compare with (a first model): skipped."""
    names = ("replay.budget", "replay.offer_mix", "replay.review_rate")
    if result is None:
        return [skipped(n, reason, required) for n in names]
    rows = int(result["decisions"])
    base = result.get("baseline")
    if base is None:
        why = "no champion to compare decisions with"
        return [skipped(n, why) for n in names]
    mix = (
        f"total variation distance of the offers granted ({base['offers']} by the champion, "
        f"{result['offers']} by the challenger)"
    )
    review = (
        f"review or reject: champion {base['review_rate']:.4f}, "
        f"challenger {result['review_rate']:.4f}"
    )
    lead = result["budget_lead"]
    return [
        at_most(names[0], lead["lead"], max_budget_lead, rows, _lead_detail(lead)),
        at_most(names[1], result["offer_mix_shift"], max_mix_shift, rows, mix),
        at_most(names[2], result["review_rate_increase"], max_review_increase, rows, review),
    ]


def _lead_detail(lead: dict) -> str:
    if lead.get("contract_id") is None:
        return "the challenger never spends faster than the champion"
    return (
        f"{lead['contract_id']} {lead['period']}: after {lead['decision']:,} of "
        f"{lead['decisions']:,} decisions the challenger had granted "
        f"{lead['candidate_points']:,} points, the champion {lead['baseline_points']:,} "
        f"(budget {lead['budget_points']:,})"
    )


def shadow_checks(
    stats: dict | None, min_rows: int, max_diff: float, min_corr: float, required: bool
) -> list[Check]:
    """Agreement of recorded shadow scores with the champion's, when there are enough."""
    names = ("shadow.mean_abs_diff", "shadow.rank_correlation")
    rows = 0 if stats is None else int(stats["rows"])
    if stats is None or rows < min_rows:
        reason = f"{rows} shadow rows for this pair of versions (needs {min_rows})"
        return [skipped(n, reason, required) for n in names]
    return [
        at_most(names[0], stats["mean_abs_diff"], max_diff, rows),
        at_least(names[1], stats["rank_correlation"], min_corr, rows),
    ]


def failed(checks: Iterable[Check]) -> list[str]:
    return [c.name for c in checks if c.verdict == FAIL]


def passed(checks: Iterable[Check]) -> bool:
    return not failed(checks)
