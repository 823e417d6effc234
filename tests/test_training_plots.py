"""The SHAP summary image depends on its inputs and seed only, never on NumPy's global RNG."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from training.plots import shap_summary_plot


def _inputs() -> tuple[np.ndarray, pd.DataFrame]:
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    # LightGBM's pred_contrib layout: one column per feature, then the expected value
    contributions = np.c_[x.to_numpy() * [1.0, 0.5, 0.1], np.zeros(len(x))]
    return contributions, x


def test_shap_summary_ignores_global_rng_and_warns_nothing(tmp_path: Path) -> None:
    contributions, x = _inputs()
    saved = np.random.get_state()
    try:
        images = []
        for global_seed in (1, 2):
            np.random.seed(global_seed)  # what made shap warn, and move the jitter, before
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                path = shap_summary_plot(contributions, x, "t", tmp_path / f"s{global_seed}.png")
            assert not [w for w in caught if issubclass(w.category, FutureWarning)], [
                str(w.message) for w in caught
            ]
            images.append(path.read_bytes())
    finally:
        np.random.set_state(saved)
    assert images[0] == images[1]
    other = shap_summary_plot(contributions, x, "t", tmp_path / "seed1.png", seed=1)
    assert other.read_bytes() != images[0]
