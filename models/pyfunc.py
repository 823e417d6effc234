"""The MLflow pyfunc face of a packaged model, for ``mlflow.pyfunc.load_model`` and spark_udf.

Only training and batch tools import this module (it imports mlflow); the service loads the
package files directly.
"""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from models.package import ModelPackage


class PackagedModel(mlflow.pyfunc.PythonModel):
    """Calibrated score per row; categorical features arrive as their labels (strings)."""

    def load_context(self, context) -> None:
        self.package = ModelPackage.load(context.artifacts["package"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        return pd.DataFrame({"score": self.package.predict(model_input)})


def signature_for(package: ModelPackage):
    """Strings for categories, longs for counts, doubles for the rest (as in the contract)."""
    kinds = {"category": "string", "int": "long"}
    inputs = Schema(
        [ColSpec(kinds.get(f["dtype"], "double"), f["name"]) for f in package.contract.features]
    )
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("double", "score")]))


def example_input(package: ModelPackage, frame: pd.DataFrame, rows: int = 2) -> pd.DataFrame:
    """A few real rows in the signature's types (category labels as plain strings)."""
    sample = frame[package.feature_names].head(rows).copy()
    for name in package.categories:
        sample[name] = sample[name].astype(str)
    for f in package.contract.features:
        if f["dtype"] != "category":
            sample[f["name"]] = sample[f["name"]].astype(
                "int64" if f["dtype"] == "int" else "float64"
            )
    return sample.reset_index(drop=True)
