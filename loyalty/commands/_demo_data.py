"""The demo's data steps: simulate (or reuse), validate, build training sets, train (or reuse)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rich.markup import escape

from loyalty.commands._common import console
from loyalty.commands._dataset_run import run_build
from loyalty.commands._train_run import quiet_mlflow, run_training
from loyalty.commands.features import materialize_features

# quarterly, so the holdout's season (September) was seen a year earlier in training
# six quarters: the months judged (June early stopping, September holdout) are training months a
# year earlier, which seasonal churn needs to stay calibrated (training.pipeline.season_gap)
DEMO_SNAPSHOTS = (
    "2024-06-01",
    "2024-09-01",
    "2024-12-01",
    "2025-03-01",
    "2025-06-01",
    "2025-09-01",
)
DEMO_SCENARIOS = ("product_launch",)
KINDS = ("churn", "propensity", "risk")


@dataclass(frozen=True)
class DemoConfig:
    customers: int
    seed: int
    fresh: bool = False
    replay_limit: int = 400
    concurrency: int = 4
    gate_config: Path | None = None
    snapshots: tuple[str, ...] = DEMO_SNAPSHOTS


class Steps:
    """Numbered progress lines: ``[n/total] what``."""

    def __init__(self, total: int) -> None:
        self.total, self.n = total, 0

    def __call__(self, text: str) -> None:
        """One line, never wrapped (steps name paths and commands); ``text`` is not markup."""
        self.n += 1
        console.print(f"[bold]{self.n}/{self.total}[/] {escape(text)}", soft_wrap=True)


def ecosystem(cfg: DemoConfig, settings, step: Steps) -> tuple[Path, dict, bool]:
    """The simulated ecosystem in the data home: (folder, manifest, reused)."""
    from loyalty.commands._sim_report import run_with_progress
    from simulator.config import make_config

    out = settings.demo_dir / "ecosystem"
    sim = make_config(cfg.customers, seed=cfg.seed, scenarios=list(DEMO_SCENARIOS))
    manifest = existing_manifest(out, sim)
    if manifest is not None and not cfg.fresh:
        step(f"reusing the ecosystem in {out} (same configuration)")
        return out, manifest, True
    step(f"simulating {cfg.customers:,} customers into {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out, run_with_progress(sim, out, force=True), False


def existing_manifest(out: Path, cfg) -> dict | None:
    """The manifest of a previous run with exactly this configuration, if there is one."""
    path = out / "manifest.json"
    if not path.exists():
        return None
    manifest = json.loads(path.read_text())
    from simulator.run import GENERATOR_VERSION

    same = (
        manifest.get("generator_version") == GENERATOR_VERSION
        and manifest.get("customers") == cfg.customers
        and manifest.get("seed") == cfg.seed
        and [s["name"] for s in manifest.get("scenarios", [])] == [s.name for s in cfg.scenarios]
    )
    return manifest if same else None


def validate(out: Path, step: Steps) -> None:
    from features.errors import LoyaltyError
    from features.io import read_events

    step("validating the event log against the canonical schema")
    _, report = read_events(out)
    if not report.ok:
        raise LoyaltyError(f"the simulated log failed validation:\n{report.to_text()}")
    console.print(
        f"    {report.rows_valid:,} valid events, {report.duplicates_dropped} duplicates dropped"
    )


def datasets(cfg: DemoConfig, events: Path, out: Path, reuse: bool, step: Steps) -> None:
    """Churn, propensity and risk training sets at the demo snapshots (kept on a rerun)."""
    if reuse and built_at(out) == list(cfg.snapshots):
        step(f"reusing the training sets in {out}")
        return

    step(f"building training sets at {', '.join(cfg.snapshots)} (horizon 90d)")
    run_build(events, list(cfg.snapshots), out, "90d", "14d", "365d", None, True, console)


def built_at(folder: Path) -> list[str] | None:
    """The snapshot dates an existing dataset folder was built at (None: no usable folder)."""
    path = folder / "summary.json"
    if not path.exists():
        return None
    spec = json.loads(path.read_text()).get("spec") or {}
    return [t[:10] for t in spec.get("as_of", [])] or None


def train(folder: Path, settings, step: Steps) -> None:
    """Train the kinds with no challenger or champion built from these exact training sets."""
    found = trained_on(folder, settings)
    missing = [k for k in KINDS if k not in found]
    if found:
        step(f"reusing registered models: {', '.join(found.values())}")
    if missing:
        text = f"training {', '.join(missing)}; registering as challenger"
        if found:
            console.print(f"    {text}")
        else:
            step(text)
        run_training(folder, missing, None, False, None, console, keep_going=True)


def trained_on(folder: Path, settings) -> dict[str, str]:
    """Per kind, the challenger or champion trained on exactly this dataset (a promoted
    version loses its challenger alias, so both are looked at)."""
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return {}  # no registry yet: nothing to reuse (and do not create one here)
    quiet_mlflow()
    from monitoring.registry import connect, version_by_alias
    from training.data import dataset_fingerprint

    client, found = connect(uri), {}
    for kind in KINDS:
        name = settings.model_name(kind)
        for alias in ("challenger", "champion"):
            v = version_by_alias(client, name, alias)
            if v is not None and v.tags.get("dataset_fingerprint") == dataset_fingerprint(
                folder, kind
            ):
                found[kind] = f"{name} v{v.version}"
                break
    return found


def materialize(events: Path, settings, reused: bool, step: Steps) -> None:
    """The latest features into the online store (kept on a rerun over the same ecosystem)."""
    from features.online_store import FILE_NAME

    store = settings.home / FILE_NAME
    if (
        reused
        and store.exists()
        and store.stat().st_mtime > (events / "manifest.json").stat().st_mtime
    ):
        step(f"reusing the online features in {store}")
        return
    step("materialising the latest features into the online store")
    materialize_features(events, None, None)
