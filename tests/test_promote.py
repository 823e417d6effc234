"""The promotion gate end to end: real trainings, a real MLflow registry, real policies.

Every challenger here is registered for real; those that must fail exactly one check are built
so that only that check can see the difference (the same packaged model with another training
reference, a model trained without the monotone constraint, ...), and the test asserts that the
gate's JSON names that check and no other.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_gate_support import (
    aliases,
    apply_policies,
    client,
    copy_home,
    invoke,
    last_snapshot_rows,
    load_package,
    reference_of,
    register_package,
    register_with_reference,
    set_aliases,
    write_shadow,
)

WEAK = (
    "plots: false\nkinds:\n  churn:\n    params: {feature_fraction: 0.1}\n    num_boost_round: 20\n"
)
UNCONSTRAINED = "plots: false\nkinds:\n  churn:\n    monotone: {tenure_days: 0}\n"
PLAIN = "plots: false\n"


@dataclass
class Env:
    home: Path
    dataset: Path
    tmp: Path
    good: int  # trained with the product's defaults (the session's churn model)
    weak: int  # fewer features per tree, fewer trees: worse ranking, same calibration
    unconstrained: int  # no monotone constraint on complaints
    shuffled: int  # trained on label-shuffled rows


def _train(home: Path, dataset: Path, config: str, tmp: Path, tag: str) -> int:
    path = tmp / f"{tag}.yaml"
    path.write_text(config)
    result = invoke(home, "train", "churn", "--dataset", dataset, "--config", path)
    assert result.exit_code == 0, result.output
    return aliases(home, "churn")["challenger"]


def _shuffled_dataset(dataset: Path, out: Path) -> Path:
    """The same rows with the churn label permuted within each snapshot."""
    shutil.copytree(dataset, out)
    frame = pd.read_parquet(out / "churn" / "data")
    rng = np.random.default_rng(5)
    for _, index in frame.groupby("snapshot", observed=True).groups.items():
        frame.loc[index, "churn"] = rng.permutation(frame.loc[index, "churn"].to_numpy())
    shutil.rmtree(out / "churn" / "data")
    (out / "churn" / "data").mkdir()
    frame.to_parquet(out / "churn" / "data" / "part-00000.parquet", index=False)
    return out


@pytest.fixture(scope="module")
def env(trained_home: Path, train_dataset: Path, sim_dir: Path, tmp_path_factory) -> Env:
    tmp = tmp_path_factory.mktemp("gate")
    home = copy_home(trained_home, tmp / "home")
    apply_policies(home, sim_dir)
    good = aliases(home, "churn")["challenger"]
    for kind in ("propensity", "risk"):
        set_aliases(home, kind, champion=aliases(home, kind)["challenger"])
    weak = _train(home, train_dataset, WEAK, tmp, "weak")
    unconstrained = _train(home, train_dataset, UNCONSTRAINED, tmp, "free")
    shuffled_data = _shuffled_dataset(train_dataset, tmp / "shuffled")
    shuffled = _train(home, shuffled_data, PLAIN, tmp, "shuffled")
    return Env(home, train_dataset, tmp, good, weak, unconstrained, shuffled)


def _reset(env: Env, kind: str, champion: int | None, challenger: int) -> None:
    c = client(env.home)
    c.set_registered_model_tag(f"loyalty-{kind}", "champion_history", "")
    set_aliases(env.home, kind, champion=champion, previous=None, challenger=challenger)


def _gate(env: Env, kind: str, *extra: str) -> tuple[int, dict]:
    out = env.tmp / "gate.json"
    out.unlink(missing_ok=True)
    result = invoke(env.home, "promote", kind, "--dataset", env.dataset, "--out", out, *extra)
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, json.loads(out.read_text())


def _checks(result: dict) -> dict[str, dict]:
    return {c["name"]: c for c in result["checks"]}


def test_a_first_model_is_promoted_only_when_it_passes_the_absolute_checks(env: Env) -> None:
    _reset(env, "churn", champion=None, challenger=env.shuffled)
    code, result = _gate(env, "churn")
    assert code == 1
    assert "absolute.roc_auc" in result["failed"]
    assert "champion" not in aliases(env.home, "churn")
    assert _checks(result)["quality.roc_auc"]["verdict"] == "skip"  # nothing to compare with

    _reset(env, "churn", champion=None, challenger=env.good)
    code, result = _gate(env, "churn")
    assert code == 0, result["failed"]
    assert aliases(env.home, "churn") == {"champion": env.good}
    for check in result["checks"]:  # every check reports value, threshold, verdict and rows
        assert {"value", "threshold", "verdict", "rows"} <= set(check)
    assert _checks(result)["absolute.roc_auc"]["rows"] == len(
        last_snapshot_rows(env.dataset, "churn")
    )


def test_a_better_challenger_is_promoted_recorded_and_rolled_back(env: Env) -> None:
    _reset(env, "churn", champion=env.weak, challenger=env.good)
    code, result = _gate(env, "churn")
    assert code == 0, result["failed"]
    assert result["quality"]["challenger"]["roc_auc"] > result["quality"]["champion"]["roc_auc"]
    assert aliases(env.home, "churn") == {"champion": env.good, "previous": env.weak}

    c = client(env.home)  # the gate run: a tag per check and the JSON as an artifact
    run = c.get_run(result["gate_run_id"])
    assert run.data.tags["gate.verdict"] == "pass"
    for check in result["checks"]:
        assert run.data.tags[f"check.{check['name']}"].startswith(check["verdict"])
    local = c.download_artifacts(run.info.run_id, "gate.json", str(env.tmp))
    assert json.loads(Path(local).read_text())["checks"] == result["checks"]
    version = c.get_model_version("loyalty-churn", str(env.good))
    assert version.tags["gate_verdict"] == "pass"
    assert version.tags["gate_run_id"] == run.info.run_id

    rolled = invoke(env.home, "rollback", "churn")
    assert rolled.exit_code == 0, rolled.output
    assert aliases(env.home, "churn") == {"champion": env.weak}
    again = invoke(env.home, "rollback", "churn")
    assert again.exit_code == 2
    assert "no previous champion" in again.output


@pytest.mark.slow
def test_rollback_walks_back_through_several_promotions(env: Env) -> None:
    _reset(env, "churn", champion=None, challenger=env.weak)
    assert _gate(env, "churn")[0] == 0
    set_aliases(env.home, "churn", challenger=env.good)
    assert _gate(env, "churn")[0] == 0
    assert aliases(env.home, "churn") == {"champion": env.good, "previous": env.weak}
    assert invoke(env.home, "rollback", "churn").exit_code == 0
    assert aliases(env.home, "churn") == {"champion": env.weak}


def test_a_challenger_trained_on_shuffled_labels_is_never_promoted(env: Env) -> None:
    _reset(env, "churn", champion=env.good, challenger=env.shuffled)
    code, result = _gate(env, "churn")
    assert code == 1
    assert {"absolute.roc_auc", "quality.roc_auc"} <= set(result["failed"])
    assert aliases(env.home, "churn") == {"champion": env.good, "challenger": env.shuffled}


def _experiment(env: Env) -> str:
    return client(env.home).get_experiment_by_name("loyalty-churn").experiment_id


# -- a challenger built to fail exactly one check ------------------------------------------------


def test_a_worse_ranking_fails_only_the_quality_check(env: Env) -> None:
    _reset(env, "churn", champion=env.good, challenger=env.weak)
    code, result = _gate(env, "churn")
    assert code == 1
    assert result["failed"] == ["quality.roc_auc"]
    assert aliases(env.home, "churn")["champion"] == env.good


def test_a_model_without_the_complaint_constraint_fails_only_the_behavioural_test(
    env: Env,
) -> None:
    _reset(env, "churn", champion=env.good, challenger=env.unconstrained)
    code, result = _gate(env, "churn")
    assert code == 1
    assert result["failed"] == ["behaviour.recent_complaint_raises_churn"]
    assert _checks(result)["behaviour.recent_complaint_raises_churn"]["value"] > 0


def test_a_training_reference_unlike_current_data_fails_only_the_drift_check(env: Env) -> None:
    reference = reference_of(env.home, "churn", env.good)
    shifted = reference.copy()
    numeric = [c for c in reference.columns if reference[c].dtype.kind in "if"]
    for column in [c for c in numeric if c not in ("prediction", "churn")][:20]:
        shifted[column] = shifted[column] * 3 + 5  # prediction column kept: scores unchanged
    variant = register_with_reference(env.home, "churn", env.good, shifted)
    _reset(env, "churn", champion=env.good, challenger=variant)
    code, result = _gate(env, "churn")
    assert code == 1
    assert result["failed"] == ["drift.features"]
    assert result["drift"]["drifted_share"] >= 20 / 59


def test_an_identical_challenger_passes_until_its_shadow_scores_disagree(env: Env) -> None:
    copy = register_with_reference(
        env.home, "churn", env.good, reference_of(env.home, "churn", env.good)
    )
    _reset(env, "churn", champion=env.good, challenger=copy)
    runs_before = len(client(env.home).search_runs([_experiment(env)]))
    code, result = _gate(env, "churn", "--dry-run")
    assert code == 0, result["failed"]
    assert all(c["verdict"] in ("pass", "skip") for c in result["checks"])
    assert _checks(result)["replay.offer_mix"]["value"] == 0.0
    assert aliases(env.home, "churn") == {"champion": env.good, "challenger": copy}
    assert len(client(env.home).search_runs([_experiment(env)])) == runs_before  # dry run

    scores = np.random.default_rng(3).uniform(size=800)
    write_shadow(env.home, "churn", env.good, copy, scores, scores[::-1])
    code, result = _gate(env, "churn")
    assert code == 1
    assert result["failed"] == ["shadow.mean_abs_diff", "shadow.rank_correlation"]
    assert _checks(result)["shadow.mean_abs_diff"]["rows"] == 800
    assert aliases(env.home, "churn")["champion"] == env.good


def test_a_risk_model_that_floods_the_review_queue_fails_only_the_replay(env: Env) -> None:
    good = aliases(env.home, "risk")["champion"]
    package = load_package(env.home, "risk", good)
    rows = last_snapshot_rows(env.dataset, "risk")
    flooding = _review_flooding(package, rows, share=0.012)
    # as training would log it: the variant's own predictions on its reference rows
    reference = reference_of(env.home, "risk", good)
    reference["prediction"] = flooding.predict(reference)
    variant = register_package(env.home, "risk", flooding, reference)
    _reset(env, "risk", champion=good, challenger=variant)
    # lifting accounts that are almost never abusive to 0.3 costs calibration in proportion to
    # how many are lifted (about half their share here): the config leaves room for that, so
    # this variant is refused by the replay alone
    config = env.tmp / "flooding.yaml"
    config.write_text("gate:\n  kinds:\n    risk:\n      quality: {max_ece_increase: 0.02}\n")
    code, result = _gate(env, "risk", "--config", config)
    checks = _checks(result)
    assert code == 1
    figures = {k: (c["value"], c["threshold"]) for k, c in checks.items() if "value" in c}
    assert result["failed"] == ["replay.review_rate"], figures
    assert checks["quality.roc_auc"]["value"] == pytest.approx(0.0, abs=1e-9)


def _review_flooding(package, rows: pd.DataFrame, share: float):
    """The same booster and ranking, but the ``share`` of accounts ranked just below those
    already sent to review (score >= 0.3) scored just above 0.3: calibration barely moves (the
    accounts the model flags keep their scores), the review queue fills. Whole blocks of tied
    raw scores move together, so the band is chosen over distinct raw values."""
    from dataclasses import replace

    from models.calibration import Calibrator

    raw = package.raw_scores(package.matrix(rows))
    flagged = raw[package.calibrator(raw) >= 0.30]
    hi = float(flagged.min()) if len(flagged) else float(raw.max()) + 1e-9
    values, counts = np.unique(raw[raw < hi], return_counts=True)
    covered = np.cumsum(counts[::-1])
    lo = float(values[::-1][np.searchsorted(covered, share * len(raw))])
    grid = np.unique(np.quantile(raw, np.linspace(0, 1, 400)))
    below, above = grid[grid < lo], grid[grid >= hi]
    x = [*below, lo - 1e-12, lo, hi - 1e-12, *above]
    at = package.calibrator(np.array([lo - 1e-12]))
    y = [*package.calibrator(below), float(at[0]), 0.3001, 0.3004, *package.calibrator(above)]
    return replace(package, calibrator=Calibrator("isotonic", x=tuple(x), y=tuple(y)))


def test_a_required_approval_blocks_until_a_named_approver_signs(env: Env, monkeypatch) -> None:
    copy = register_with_reference(
        env.home, "churn", env.good, reference_of(env.home, "churn", env.good)
    )
    config = env.tmp / "approval.yaml"
    config.write_text("gate:\n  approval: {required: true, approvers: [alice]}\n")
    _reset(env, "churn", champion=env.good, challenger=copy)
    monkeypatch.delenv("LOYALTY_OPERATOR", raising=False)
    code, result = _gate(env, "churn", "--config", config)  # an OS login approves nothing
    assert code == 1
    assert result["failed"] == ["approval"]
    gone = invoke(env.home, "promote", "churn", "--dataset", env.dataset, "--approved-by", "eve")
    assert gone.exit_code == 2 and "--approved-by is gone" in gone.output
    monkeypatch.setenv("LOYALTY_OPERATOR", "alice")
    code, result = _gate(env, "churn", "--config", config)
    assert code == 0
    assert aliases(env.home, "churn") == {"champion": copy, "previous": env.good}
    tags = client(env.home).get_model_version("loyalty-churn", str(copy)).tags
    assert tags["approved_by"] == "alice"
    assert client(env.home).get_run(result["gate_run_id"]).data.tags["approved_by"] == "alice"


def test_errors_exit_2(env: Env, tmp_path: Path) -> None:
    assert invoke(env.home, "promote", "churn", "--dataset", tmp_path / "nope").exit_code == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("gate:\n  quality: {max_roc_auc_dropp: 0.1}\n")
    result = invoke(env.home, "promote", "churn", "--dataset", env.dataset, "--config", bad)
    assert result.exit_code == 2
    assert "max_roc_auc_dropp" in result.output
    set_aliases(env.home, "churn", challenger=None)
    result = invoke(env.home, "promote", "churn", "--dataset", env.dataset)
    assert result.exit_code == 2
    assert "no version with alias 'challenger'" in result.output
    empty = tmp_path / "empty-home"
    result = invoke(empty, "promote", "churn", "--dataset", env.dataset)
    assert result.exit_code == 2
    assert "no model registry" in result.output


@pytest.mark.slow
def test_shadow_scores_recorded_by_the_decision_service_reach_the_gate(
    env: Env, sim_dir: Path
) -> None:
    """A real DecisionCore shadows the challenger and writes both scores into its audit trail;
    the gate reads them from there."""
    from serving import operations
    from serving.core import DecisionCore
    from serving.schemas import EXAMPLE_DECIDE, DecideRequest
    from tests.service_support import CONSENTED, TOKENS
    from tests.service_support import env as environment

    copy = register_with_reference(
        env.home, "churn", env.good, reference_of(env.home, "churn", env.good)
    )
    _reset(env, "churn", champion=env.good, challenger=copy)
    set_aliases(env.home, "risk", challenger=None)
    result = invoke(env.home, "features", "materialize", "--events", sim_dir)
    assert result.exit_code == 0, result.output
    values = {
        "LOYALTY_HOME": str(env.home),
        "LOYALTY_TOKENS": TOKENS,
        "LOYALTY_MODEL_POLL_S": "3600",
    }
    with environment(values):
        core = DecisionCore()
        try:
            for cid in range(1, 41):
                request = {
                    **EXAMPLE_DECIDE,
                    "idempotency_key": f"shadow-{cid:04d}",
                    "customer_id": str(cid),
                    "features": CONSENTED,
                }
                operations.decide(core, DecideRequest(**request))
        finally:
            core.close()
    config = env.tmp / "shadow.yaml"
    config.write_text("gate:\n  shadow: {min_rows: 20}\n")
    code, result = _gate(env, "churn", "--config", config, "--dry-run")
    checks = _checks(result)
    assert checks["shadow.mean_abs_diff"]["rows"] == 40
    assert checks["shadow.mean_abs_diff"]["value"] == 0.0  # the same model in shadow
    assert checks["shadow.rank_correlation"]["verdict"] == "pass"
    assert code == 0, result["failed"]
