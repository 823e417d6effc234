"""Behavioural tests on literal frames, PSI on reference deciles, and the commands' surface."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitoring.behaviour import directional, id_effect, invalid_share, perturb, run_behaviour
from monitoring.config import Change, Directional, load_config

# -- behavioural tests ------------------------------------------------------------------------


def _linear(weights: dict[str, float]):
    def score(frame: pd.DataFrame) -> np.ndarray:
        z = sum(w * frame[k].to_numpy(dtype=float) for k, w in weights.items())
        return 1 / (1 + np.exp(-z))

    return score


FRAME = pd.DataFrame(
    {
        "customer_id": ["c1", "c2", "c3", "c4"],
        "complaints_90d": [0, 1, 2, 0],
        "days_since_last_complaint": [3650.0, 20.0, 5.0, 400.0],
        "tier": ["basic", "gold", "basic", "silver"],
    }
)
RECENT_COMPLAINT = Directional(
    name="recent_complaint_raises_churn",
    kinds=["churn"],
    direction="up",
    change={"complaints_90d": Change(add=1), "days_since_last_complaint": Change(at_most=1)},
    max_violation_share=0.0,
)


def test_perturb_adds_then_clips() -> None:
    out = perturb(FRAME, RECENT_COMPLAINT.change)
    assert out["complaints_90d"].tolist() == [1, 2, 3, 1]
    assert out["days_since_last_complaint"].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert FRAME["complaints_90d"].tolist() == [0, 1, 2, 0]  # the input is untouched


def test_directional_counts_rows_that_move_the_wrong_way() -> None:
    good = directional(_linear({"complaints_90d": 0.5}), FRAME, RECENT_COMPLAINT)
    assert good["value"] == 0.0
    bad = directional(_linear({"complaints_90d": -0.5}), FRAME, RECENT_COMPLAINT)
    assert bad["value"] == 1.0
    assert "4 rows moved down" in bad["detail"]


def test_id_invariance_catches_a_model_that_reads_the_id() -> None:
    assert id_effect(_linear({"complaints_90d": 0.3}), FRAME) == 0.0

    def reads_id(frame: pd.DataFrame) -> np.ndarray:
        return frame["customer_id"].str.len().to_numpy(dtype=float) / 100

    assert id_effect(reads_id, FRAME) > 0


def test_score_range() -> None:
    assert invalid_share(np.array([0.0, 0.5, 1.0])) == 0.0
    assert invalid_share(np.array([0.5, np.nan, 1.2, -0.1])) == 0.75


def test_run_behaviour_applies_the_kinds_tests_only() -> None:
    behaviour = (
        load_config()
        .gate_for("churn")
        .behaviour.model_copy(update={"directional": [RECENT_COMPLAINT]})
    )
    scorer = _linear({"complaints_90d": 0.5})
    churn = run_behaviour(scorer, FRAME, "churn", ["tier"], behaviour)
    assert [r["name"] for r in churn] == [
        "score_range",
        "id_invariance",
        "recent_complaint_raises_churn",
    ]
    risk = run_behaviour(scorer, FRAME, "risk", ["tier"], behaviour)
    assert [r["name"] for r in risk] == ["score_range", "id_invariance"]


# -- the commands stay light ------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["drift"], ["promote"], ["rollback"], ["monitor"], ["monitor", "run"]]
)
def test_monitoring_commands_have_help(command: list[str]) -> None:
    from typer.testing import CliRunner

    from loyalty.cli import app

    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_the_monitoring_commands_import_no_heavy_library() -> None:
    import subprocess
    import sys

    heavy = ("pandas", "numpy", "mlflow", "evidently", "lightgbm", "matplotlib")
    code = (
        "import sys; import loyalty.commands.drift, loyalty.commands.promote, "
        f"loyalty.commands.monitor; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# -- PSI on reference deciles -----------------------------------------------------------------


def test_quantile_psi_bins_on_reference_deciles() -> None:
    from monitoring.stattest import psi, shares

    rng = np.random.default_rng(1)
    ref = pd.Series(rng.lognormal(0, 1, 20_000))
    p, q = shares(ref, pd.Series(rng.lognormal(0, 1, 20_000)), numerical=True)
    assert len(p) == 10
    assert np.allclose(p, 0.1, atol=1e-3)  # each bin starts with a tenth of the reference
    assert psi(p, q) < 0.01
    p, q = shares(ref, pd.Series(rng.lognormal(0.5, 1, 20_000)), numerical=True)
    assert psi(p, q) > 0.2  # a shifted median of a heavy-tailed feature is seen


def test_quantile_psi_compares_few_values_one_by_one() -> None:
    from monitoring.stattest import FLOOR, psi, shares

    ref = pd.Series(["a"] * 50 + ["b"] * 50)
    cur = pd.Series(["a"] * 45 + ["b"] * 45 + ["new"] * 10)
    p, q = shares(ref, cur, numerical=False)
    assert p.tolist() == [0.5, 0.5, 0.0] and q.tolist() == [0.45, 0.45, 0.1]
    expected = 2 * 0.05 * np.log(0.5 / 0.45) + (FLOOR - 0.1) * np.log(FLOOR / 0.1)
    assert psi(p, q) == pytest.approx(expected)
    counts = pd.Series([0, 1, 2, 0, 1] * 20)
    assert psi(*shares(counts, counts, numerical=True)) == 0.0
