"""What the commands print when the output is not a terminal (a log, a pipe, CI): tables keep
their figures whole, ids, commands and paths are never cut or wrapped; and the words say what
happened (drift verdicts, whether `loyalty serve` can start)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from loyalty.commands._common import LOG_WIDTH, console, print_verbatim
from monitoring.gate_result import GateResult, Quality, VersionInfo
from monitoring.gate_rules import Check

runner = CliRunner()
LONG_PATH = "/srv/loyalty/" + "/".join(f"folder-{i:02d}" for i in range(20)) + "/drift.html"


def _printed(show) -> str:
    """What ``show()`` prints to the commands' console, run as a command under CliRunner (whose
    output, like a log's, is not a terminal)."""
    probe = typer.Typer()
    probe.command()(show)
    result = runner.invoke(probe, [])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_console_is_wide_and_paths_are_never_wrapped_when_not_a_terminal() -> None:
    def show() -> None:
        print_verbatim(f"report: {LONG_PATH}")
        console.print("word " * 30)
        typer.echo(console.width)

    lines = _printed(show).splitlines()
    assert lines[0] == f"report: {LONG_PATH}"  # one line, however long
    assert lines[1].rstrip() == ("word " * 30).rstrip()  # 150 characters: not folded at 80
    assert lines[2] == str(LOG_WIDTH)


def test_columns_is_honoured_when_set() -> None:
    from loyalty.commands._common import LogConsole

    narrow = LogConsole(_environ={"COLUMNS": "90"})
    assert narrow.width == 90
    with Path("/dev/null").open("w") as sink:
        assert LogConsole(_environ={}, file=sink).width == LOG_WIDTH


GATE = GateResult(
    kind="propensity",
    model="propensity",
    challenger=VersionInfo("propensity", "challenger", 12, "run-12"),
    champion=VersionInfo("propensity", "champion", 11, "run-11"),
    checks=(
        Check("absolute.roc_auc", 0.801234, 0.65, ">=", "pass", 48_213),
        Check("quality.ece", 0.004321, 0.02, "<=", "pass", 48_213),
        Check("behaviour.recent_complaint_raises_churn", 0.0, 0.0, "<=", "pass", 2_000),
        Check("replay.budget", 0.312345, 0.25, "<=", "fail", 5_000, "C-ACME-2025 2025Q3: ..."),
        Check("approval", None, "ops-lead, risk-officer, head-of-crm", "==", "fail", 0,
              "approval required"),
    ),
    dataset="/srv/loyalty/datasets/2025-09",
    window="2025-09-01T00:00:00",
    rows=48_213,
    quality=Quality({"roc_auc": 0.801234, "ece": 0.004321}),
    drift={},
    evaluated_at="2025-09-02T08:00:00+00:00",
)  # fmt: skip


def test_the_gate_table_keeps_every_figure_whole() -> None:
    from loyalty.commands.promote import checks_table

    out = _printed(lambda: console.print(checks_table(GATE)))
    assert "…" not in out and "..." not in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert rows["absolute.roc_auc"] == ["0.8012", ">=", "0.6500", "pass", "48,213"]
    assert rows["quality.ece"] == ["0.0043", "<=", "0.0200", "pass", "48,213"]
    assert rows["behaviour.recent_complaint_raises_churn"] == [
        "0.0000", "<=", "0.0000", "pass", "2,000"]  # fmt: skip
    assert rows["replay.budget"] == ["0.3123", "<=", "0.2500", "fail", "5,000"]
    assert rows["approval"] == ["-", "ops-lead,", "risk-officer,", "head-of-crm", "fail", "0"]


def test_the_monitor_table_keeps_every_figure_whole() -> None:
    from loyalty.commands.monitor import _table

    headline = {"roc_auc": 0.812345, "ece": 0.012345, "drifted_share": 17 / 65,
                "prediction_drift": 0.143219}  # fmt: skip
    summary = {
        "folder": "20260115T101500Z",
        "models": [
            {"kind": "churn", "status": "ok", "model": {"version": 7}, "drift_found": True,
             "window": "2025-09-01T00:00:00", "headline": headline},
            {"kind": "risk", "status": "no risk rows in /srv/loyalty/datasets/2025-09"},
        ],
    }  # fmt: skip
    out = _printed(lambda: console.print(_table(summary)))
    assert "…" not in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert rows["churn"] == ["v7", "2025-09-01", "0.8123", "0.0123", "26.2%", "0.143", "drift",
                             "found"]  # fmt: skip
    assert rows["risk"] == ["-"] * 5 + ["no", "risk", "rows", "in", "/srv/loyalty/datasets/2025-09"]


FEATURES = {"drifted_features": 17, "features": 65, "drifted_share": 17 / 65,
            "drift_share_threshold": 0.3}  # fmt: skip
PREDICTION = {"score": 0.143219, "method": "psi_quantile", "threshold": 0.1}


@pytest.mark.parametrize(
    ("summary", "line"),
    [
        ({**FEATURES, "dataset_drift": False, "drift_found": False},
         "no drift: 17 of 65 features drifted (26.2%), under the 30% at which the data drifts"),
        ({**FEATURES, "dataset_drift": False, "drift_found": True,
          "prediction": {**PREDICTION, "drifted": True}},
         "drift found: the prediction drifted (score 0.1432, psi_quantile, threshold 0.1); "
         "17 of 65 features drifted (26.2%), under the 30% at which the data drifts"),
        ({**FEATURES, "drifted_features": 20, "drifted_share": 20 / 65, "dataset_drift": True,
          "drift_found": True, "prediction": {**PREDICTION, "score": 0.02, "drifted": False}},
         "drift found: 20 of 65 features drifted (30.8%), reaching the 30% at which the data "
         "drifts; the prediction did not drift (score 0.02, psi_quantile, threshold 0.1)"),
    ],
)  # fmt: skip
def test_the_drift_verdict_says_how_many_features_drifted_and_why(summary, line) -> None:
    from monitoring.drift import verdict_line

    assert verdict_line(summary) == line


def test_the_demo_ends_saying_whether_serve_can_start(tmp_path: Path) -> None:
    from loyalty.commands.demo import serve_line
    from loyalty.settings import Settings

    settings = Settings(home=tmp_path)
    champions = {k: {"champion": "1", "challenger": None, "previous": None}
                 for k in ("churn", "propensity", "risk")}  # fmt: skip
    assert serve_line(settings, champions) == "`loyalty serve` can start on this data home at once"
    champions["risk"] = {"champion": None, "challenger": "1", "previous": None}
    assert serve_line(settings, champions) == (
        "`loyalty serve` cannot start: no champion for risk. Promote one (`loyalty promote risk "
        f"--dataset {tmp_path / 'demo' / 'datasets'} --dry-run` shows the gate's verdict), or "
        "rerun `loyalty demo --gate-config FILE` with thresholds the models can meet"
    )


def test_a_passed_gate_after_a_drift_report_that_found_drift_says_why() -> None:
    from loyalty.commands._demo_models import _drift_passed

    checks = [
        Check("absolute.roc_auc", 0.87, 0.65, ">=", "pass", 3_000),
        Check("drift.features", 0.171429, 0.25, "<", "pass", 3_000),
        Check("drift.prediction", 0.167879, 0.25, "<", "pass", 3_000),
    ]
    assert _drift_passed(checks, found=False) == ""
    assert _drift_passed(checks, found=True) == (
        " (the drift the report found is within the gate's thresholds: drift.features 0.1714 < "
        "0.2500, drift.prediction 0.1679 < 0.2500)"
    )


def test_the_gate_title_is_not_wrapped() -> None:
    from loyalty.commands.promote import checks_table

    out = _printed(lambda: console.print(checks_table(replace(GATE, checks=GATE.checks[:1]))))
    title = "Gate: propensity v12 vs champion v11 on 48,213 rows of 2025-09-01"
    assert out.splitlines()[0].strip() == title
