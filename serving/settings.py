"""The service's typed settings: exactly the ``LOYALTY_*`` variables the service reads.

``loyalty.settings.Settings`` builds on this class (the command line reads a few more), so each
variable is defined once. Built at the edge, ``DecisionService.__init__`` or a command, and passed
down as a value; nothing here touches the disk at import.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from guardrails.ledger.stores import Stores, open_stores_with_keys


class ServiceSettings(BaseSettings):
    """Where the embedded stores live and how the service reaches them."""

    model_config = SettingsConfigDict(env_prefix="LOYALTY_", extra="ignore")

    home: Path = Field(default=Path(".loyalty"), description="Data home for every embedded store.")
    mlflow_tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI; default sqlite:///<home>/mlflow.db."
    )
    ledger_url: str | None = Field(
        default=None,
        description="Budget ledger, review queue and audit trail database: sqlite:///PATH or "
        "postgresql://USER@HOST/DB; default sqlite:///<home>/ledger.db.",
    )
    audit_key: SecretStr | None = Field(
        default=None,
        description="HMAC key of the audit chain; default: <home>/keys/audit.key (0600, made "
        "on first write). Never stored in the database.",
    )
    pseudonym_key: SecretStr | None = Field(
        default=None,
        description="Key of the customer-id pseudonyms; default: <home>/keys/pseudonym.key.",
    )
    model_name_prefix: str = Field(
        default="loyalty-", description="Registered model names are <prefix><kind>."
    )
    tokens: SecretStr | None = Field(
        default=None,
        description="Service bearer tokens: 'TOKEN=scope+scope[@PARTNER];...' (scopes: "
        "orchestrator, reviewer, operator, partner). Configuration only, never in code.",
    )
    tokens_file: Path | None = Field(
        default=None, description="A file holding the service tokens in the same format."
    )
    model_poll_s: float = Field(
        default=30.0, description="How often the service checks the registry for alias moves."
    )
    shadow: bool = Field(default=True, description="Score the challenger in shadow.")
    feature_store_url: str | None = Field(
        default=None,
        description="Online feature store: redis://HOST:PORT/DB (several service hosts); "
        "default: the embedded file <home>/online_features.db.",
    )
    feature_store_prefix: str = Field(
        default="loyalty:features", description="Key prefix of the features in Redis."
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body the service accepts (413)."
    )
    clock_skew_s: float = Field(
        default=300.0,
        ge=0,
        description="How far (seconds) a decision time may lie across a period boundary from "
        "the service's clock and still count as the current period.",
    )
    clock_at: str | None = Field(
        default=None,
        description="Pin the service's clock: an ISO time or 'log-end' (the feature snapshot's "
        "time); it runs on from there. For replays of a simulated log; refused unless "
        "LOYALTY_ALLOW_TEST_CLOCK=1.",
    )
    clock_anchor: float | None = Field(
        default=None,
        description="The real time (epoch seconds) at which the pinned clock read clock_at, so "
        "every worker's clock agrees; default: when the worker starts.",
    )
    allow_test_clock: bool = Field(
        default=False, description="Allow LOYALTY_CLOCK_AT (never on a production service)."
    )

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    def model_name(self, kind: str) -> str:
        """The MLflow registered-model name of a kind (churn, propensity, risk)."""
        return f"{self.model_name_prefix}{kind}"

    @property
    def model_cache_dir(self) -> Path:
        return self.home / "model-cache"

    @property
    def ledger_database(self) -> str:
        """The ledger database URL (the embedded SQLite file unless ``ledger_url`` is set)."""
        if self.ledger_url:
            return self.ledger_url
        return f"sqlite:///{(self.home / 'ledger.db').resolve()}"

    @property
    def keys_dir(self) -> Path:
        """Key files made on first use when no key is set (keep them out of backups of the db)."""
        return self.home / "keys"


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value else None


def open_guardrail_stores(settings: ServiceSettings, *, write: bool) -> Stores:
    """The ledger, review queue and audit trail of the configured database, with their keys.

    Keys come from LOYALTY_AUDIT_KEY / LOYALTY_PSEUDONYM_KEY, else from key files in
    ``<home>/keys/``, created (0600) only when ``write`` is set."""
    return open_stores_with_keys(
        settings.ledger_database,
        audit_secret=_secret(settings.audit_key),
        pseudonym_secret=_secret(settings.pseudonym_key),
        keys_dir=settings.keys_dir,
        create_keys=write,
    )
