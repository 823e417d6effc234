"""Shared set-up of the service tests: a data home with champions, policies and features."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

TOKENS = (
    "orch-secret-0001=orchestrator;op-secret-0001=operator;rev-secret-0001=reviewer#rita;"
    "p1-secret-0001=partner@P01;p2-secret-0001=partner@P02;"
    "backfill-secret-0001=orchestrator+operator"
)
ORCH = {"Authorization": "Bearer orch-secret-0001"}
OPER = {"Authorization": "Bearer op-secret-0001"}
BACKFILL = {"Authorization": "Bearer backfill-secret-0001"}  # may decide without reserving
REVIEWER = {"Authorization": "Bearer rev-secret-0001"}
PARTNER1 = {"Authorization": "Bearer p1-secret-0001"}
PARTNER2 = {"Authorization": "Bearer p2-secret-0001"}
REVIEW_CONTRACT = "C-P02"  # its policy is applied with every decision routed to review
CONSENTED = {"consent_marketing": 1, "consent_data_sharing": 1}


@contextmanager
def env(values: dict[str, str]):
    """Set environment variables for the block, restoring the previous values after."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def forget_bentoml_metrics() -> None:
    """Unregister BentoML's request metrics from the process-wide Prometheus registry.

    BentoML registers them when an app's lifespan starts; a second in-process app in the same
    test session (each test module starts its own) would otherwise fail on duplicates.
    """
    from prometheus_client import REGISTRY

    for collector, names in list(REGISTRY._collector_to_names.items()):
        if any(name.startswith("bentoml_") for name in names):
            REGISTRY.unregister(collector)


def build_home(trained_home: Path, sim_dir: Path, home: Path) -> dict[str, str]:
    """Copy the trained registry, promote every challenger to champion, apply the policies
    (one routed to review) and materialize features; returns the service's environment."""
    from mlflow import MlflowClient
    from typer.testing import CliRunner

    from loyalty.cli import app

    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(trained_home / "mlflow.db", home / "mlflow.db")
    values = {"LOYALTY_HOME": str(home), "LOYALTY_TOKENS": TOKENS, "LOYALTY_MODEL_POLL_S": "3600"}
    uri = f"sqlite:///{(home / 'mlflow.db').resolve()}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    for kind in ("churn", "propensity", "risk"):
        v = client.get_model_version_by_alias(f"loyalty-{kind}", "challenger")
        client.set_registered_model_alias(f"loyalty-{kind}", "champion", v.version)
    runner = CliRunner()
    with env(values):
        for path in sorted((sim_dir / "policies").glob("*.yaml")):
            text = path.read_text()
            if path.stem == REVIEW_CONTRACT:
                text = _all_to_review(text)
            target = home / "policies-in" / path.name
            target.parent.mkdir(exist_ok=True)
            target.write_text(text)
            result = runner.invoke(app, ["policy", "apply", str(target)])
            assert result.exit_code == 0, result.output
        result = runner.invoke(app, ["features", "materialize", "--events", str(sim_dir)])
        assert result.exit_code == 0, result.output
    return values


def _all_to_review(text: str) -> str:
    import yaml

    doc = yaml.safe_load(text)
    doc["risk_routing"] = {"approve_below": 0.0, "review_below": 1.0}
    return yaml.safe_dump(doc, sort_keys=False)


def written(core) -> dict[str, int]:
    """Rows of everything a request can write (ledger, decisions, reviews, audit, intake),
    read through a DecisionCore on the same data home: equal before and after a refusal."""
    return core.stores.ledger.db.run(
        lambda tx: {
            table: int(tx.one(f"SELECT COUNT(*) FROM {table}")[0])
            for table in (
                "reservations",
                "reservation_lines",
                "ledger_entries",
                "decisions",
                "reviews",
                "audit_records",
                "intake_events",
            )
        },
        write=False,
    )


class LookupSpy:
    """Records every feature-row lookup the online store is asked for (one list of ids per
    call), passing each on: what the consent tests check was never read."""

    def __init__(self, store) -> None:
        self.store, self.real, self.calls = store, store.lookup, []

    @property
    def ids(self) -> list[str]:
        return [cid for call in self.calls for cid in call]

    def __enter__(self):
        def lookup(ids):
            self.calls.append(list(ids))
            return self.real(ids)

        self.store.lookup = lookup
        return self

    def __exit__(self, *exc) -> None:
        del self.store.lookup
