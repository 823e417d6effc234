"""The console script: instant help without heavy imports, and the demo loop reusing its data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from loyalty.cli import app

runner = CliRunner()
HEAVY = ("pandas", "numpy", "pyarrow", "mlflow", "evidently", "shap", "bentoml", "lightgbm")


def test_importing_the_cli_loads_no_heavy_library() -> None:
    code = f"import sys, loyalty.cli; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize(
    "command", [[], ["simulate"], ["events"], ["events", "validate"], ["demo"]]
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def _command_paths(command, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group of the CLI, as the words that name it."""
    found = [path]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += _command_paths(sub, (*path, name))
    return found


@pytest.mark.parametrize("command", _command_paths(typer.main.get_command(app)), ids=" ".join)
def test_help_shows_flags_without_a_type(command: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output


def _option_rows(command: list[str]) -> dict[str, list[str]]:
    """The words of each option's row in the help panel, by the option's first name."""
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines()]
    return {words[1]: words[2:] for words in rows if len(words) > 2 and words[1][:2] == "--"}


def test_demo_help_lists_its_flags_plainly() -> None:
    demo = _option_rows(["demo"])
    assert demo["--fresh"][:3] == ["Regenerate", "even", "if"]
    assert demo["--help"][:2] == ["Show", "this"]
    assert demo["--seed"][0] == "<int>"  # options that take a value keep their type
    assert _option_rows(["simulate"])["--summary"][:2] == ["--no-summary", "Print"]


def test_demo_builds_then_reuses_the_ecosystem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOYALTY_HOME", str(tmp_path / "home"))
    first = runner.invoke(app, ["demo", "--customers", "2000"])
    assert first.exit_code == 0, first.output
    assert "simulating 2,000 customers" in first.output
    manifest = tmp_path / "home" / "demo" / "ecosystem" / "manifest.json"
    assert manifest.exists()
    stamp = manifest.stat().st_mtime_ns
    second = runner.invoke(app, ["demo", "--customers", "2000"])
    assert second.exit_code == 0, second.output
    assert "reusing the ecosystem" in second.output
    assert manifest.stat().st_mtime_ns == stamp
    assert "oracle churn ROC AUC" in second.output
    for kind in ("churn", "propensity", "risk"):
        assert (tmp_path / "home" / "demo" / "datasets" / kind / "feature_contract.json").exists()
    assert (tmp_path / "home" / "online_features.db").exists()
    assert "training churn, propensity, risk" in first.output
    assert "loyalty-churn v1" in first.output and "loyalty-propensity v1" in first.output
    assert "reusing registered models: loyalty-churn v1, loyalty-propensity v1" in second.output
