"""Write datasets to the layout of the command-line contract, atomically.

DIR/<kind>/data/part-00000.parquet, DIR/<kind>/feature_contract.json and, when given,
DIR/<kind>/oracle.parquet (beside data/, never in it); DIR/summary.json has the counts.
Everything is written to a hidden sibling first and moved into place only when complete.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from features.atomic import atomic_folder
from features.contract import FeatureContract, contract_for
from features.dataset import OFFER_FEATURES, Datasets


def contracts_for(datasets: Datasets) -> dict[str, FeatureContract]:
    return {
        kind: contract_for(names, datasets.frames[kind], extra=OFFER_FEATURES, kind=kind)
        for kind, names in datasets.feature_names.items()
    }


def write_datasets(
    datasets: Datasets,
    out: Path,
    oracle: dict[str, pd.DataFrame] | None = None,
    force: bool = False,
) -> dict[str, FeatureContract]:
    contracts = contracts_for(datasets)
    with atomic_folder(out, force) as tmp:
        for kind, frame in datasets.frames.items():
            (tmp / kind / "data").mkdir(parents=True)
            frame.to_parquet(tmp / kind / "data" / "part-00000.parquet", index=False)
            (tmp / kind / "feature_contract.json").write_text(
                json.dumps(contracts[kind].to_dict(), indent=2) + "\n"
            )
            if oracle and kind in oracle:
                oracle[kind].to_parquet(tmp / kind / "oracle.parquet", index=False)
        summary = {
            "counts": datasets.counts,
            "data_start": str(datasets.data_start),
            "data_end": str(datasets.data_end),
            "spec": _spec_dict(datasets),
        }
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return contracts


def _spec_dict(datasets: Datasets) -> dict | None:
    """How the rows were built: training needs the label windows to embargo its splits."""
    spec = datasets.spec
    if spec is None:
        return None
    return {
        "as_of": [t.isoformat() for t in spec.as_of],
        "horizon_days": spec.horizon_days,
        "offer_window_days": spec.offer_window_days,
        "active_within_days": spec.active_within_days,
    }
