"""Typed settings with explicit defaults, read from ``LOYALTY_*`` environment variables.

``Settings`` is the service's ``ServiceSettings`` (serving/settings.py: the data home, stores,
registry, tokens) plus what only the commands read, so each variable is defined once. Nothing
here touches the disk at import: paths are resolved and created by the commands that need them,
so importing the package has no side effects.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from serving.settings import ServiceSettings


class Settings(ServiceSettings):
    """The service's settings plus the commands' own (seed, artifact and demo folders)."""

    seed: int = Field(default=42, description="Default seed for simulations and sampling.")
    ssl_certfile: Path | None = Field(
        default=None, description="loyalty serve: TLS certificate chain (PEM); with ssl_keyfile."
    )
    ssl_keyfile: Path | None = Field(
        default=None, description="loyalty serve: the certificate's private key (PEM)."
    )
    operator: str | None = Field(
        default=None,
        description="Who runs the commands, as their audit records name them (review, policy "
        "activation, pause and resume, promotion); default: the operating-system login.",
    )

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def demo_dir(self) -> Path:
        return self.home / "demo"


def load_settings() -> Settings:
    """Read settings from the environment at call time (never at import)."""
    return Settings()
