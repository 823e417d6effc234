"""Typed settings with explicit defaults, read from ``LOYALTY_*`` environment variables.

Nothing here touches the disk at import: paths are resolved and created by the commands that
need them, so importing the package has no side effects.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the embedded stores live and how the services reach them."""

    model_config = SettingsConfigDict(env_prefix="LOYALTY_", extra="ignore")

    home: Path = Field(default=Path(".loyalty"), description="Data home for every embedded store.")
    mlflow_tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI; default sqlite:///<home>/mlflow.db."
    )
    seed: int = Field(default=42, description="Default seed for simulations and sampling.")

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def demo_dir(self) -> Path:
        return self.home / "demo"


def load_settings() -> Settings:
    """Read settings from the environment at call time (never at import)."""
    return Settings()
