"""Environment defaults of a serving process: set before anything reads them, and only where
the operator has not set a value (no files, no network)."""

from __future__ import annotations

import os

SERVICE_ENVIRONMENT = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "BENTOML_DO_NOT_TRACK": "True",
    # no tqdm download bars in the service log when models load from the registry (MLflow
    # reads this each time it downloads artifacts: mlflow.utils.file_utils.ArtifactProgressBar)
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


def apply_defaults() -> None:
    """Set each default the environment does not already hold."""
    for name, value in SERVICE_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
