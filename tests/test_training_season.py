"""A seasonal model warns when its holdout month is in no training snapshot."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from training.pipeline import season_gap


def _prepared(snapshots: list[str], names=("month_of_year", "tenure_days")):
    contract = SimpleNamespace(names=list(names))
    split = SimpleNamespace(snapshots=tuple(pd.Timestamp(s) for s in snapshots))
    return SimpleNamespace(data=SimpleNamespace(contract=contract), split=split)


def test_holdout_month_missing_from_training_is_named():
    gap = season_gap(_prepared(["2024-12-01", "2025-03-01", "2025-06-01", "2025-09-01"]))
    assert gap is not None
    assert "holdout 2025-09-01" in gap and "early-stopping 2025-06-01" in gap and "[3, 12]" in gap


def test_an_untrained_early_stopping_month_is_named_alone():
    # the calibration fold includes the early-stopping snapshot: June was never trained on
    gap = season_gap(_prepared(["2024-09-01", "2024-12-01", "2025-06-01", "2025-09-01"]))
    assert gap is not None
    assert "early-stopping 2025-06-01" in gap and "holdout" not in gap


def test_both_judged_months_seen_a_year_earlier_is_fine():
    assert season_gap(_prepared(["2024-06-01", "2024-09-01", "2025-06-01", "2025-09-01"])) is None


def test_the_validation_snapshot_does_not_count_as_training():
    # September is only in the early-stopping snapshot (second to last): not learned from
    assert season_gap(_prepared(["2024-12-01", "2025-03-01", "2025-09-01", "2025-09-15"]))


def test_models_without_a_seasonal_feature_never_warn():
    snaps = ["2024-12-01", "2025-03-01", "2025-06-01", "2025-09-01"]
    assert season_gap(_prepared(snaps, names=("tenure_days",))) is None
