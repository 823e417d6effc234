"""Drive the generator chunk by chunk and write the ecosystem folder atomically.

Layout of ``--out DIR`` (documented in docs/simulator.md):
  events/part-NNNNN.parquet   canonical event log (schema v1), one file per chunk
  reference/*.parquet         customers, partners, contracts, offers
  policies/<contract>.yaml    one contract policy per contract
  truth/customers.parquet     latent per-customer state (never read as features)
  truth/campaigns.parquet     the campaign plan per contract
  manifest.json               configuration, counts and the generator version
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from features.atomic import FolderNotEmptyError, atomic_folder
from features.errors import InputError
from features.schema import SCHEMA_VERSION
from simulator import config as params
from simulator.generate import generate_chunk
from simulator.policies import write_policies
from simulator.world import ACQUISITION, REGIONS, World, build_world

GENERATOR_VERSION = 3  # 3: points expire after a year without a points movement
_WORLD: World | None = None


def config_from_manifest(manifest: dict) -> params.SimConfig:
    if manifest.get("generator_version") != GENERATOR_VERSION:
        raise InputError(
            f"simulation made by generator version {manifest.get('generator_version')}, "
            f"this code is version {GENERATOR_VERSION}: regenerate it with `loyalty simulate`"
        )
    return params.make_config(
        customers=manifest["customers"],
        seed=manifest["seed"],
        start=manifest["start"],
        months=manifest["months"],
        scenarios=[f"{s['name']}@{s['starts'][:10]}" for s in manifest["scenarios"]],
    )


def _init_worker(cfg: params.SimConfig) -> None:
    global _WORLD
    _WORLD = build_world(cfg)


def _run_chunk(args: tuple[int, int, int, str]) -> tuple[pd.DataFrame, dict[str, int]]:
    chunk, first, last, folder = args
    assert _WORLD is not None
    table, truth = generate_chunk(_WORLD, chunk, np.arange(first, last, dtype=np.int64))
    pq.write_table(table, Path(folder) / f"part-{chunk:05d}.parquet", compression="zstd")
    counts = table.column("event_type").to_pandas().value_counts()
    return truth, {str(k): int(v) for k, v in counts.items()}


def simulate(
    cfg: params.SimConfig,
    out: Path,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> dict:
    """Generate the ecosystem into ``out``; nothing appears there unless the whole run succeeds."""
    try:
        with atomic_folder(Path(out), force) as tmp:
            (tmp / "events").mkdir()
            return _generate_into(cfg, tmp, progress, workers)
    except FolderNotEmptyError as exc:
        raise InputError(str(exc)) from exc


def _generate_into(cfg: params.SimConfig, tmp: Path, progress, workers: int | None) -> dict:
    world = build_world(cfg)
    chunks = [
        (i, first, min(first + params.CHUNK_SIZE, cfg.customers + 1), str(tmp / "events"))
        for i, first in enumerate(range(1, cfg.customers + 1, params.CHUNK_SIZE))
    ]
    workers = workers or min(len(chunks), os.cpu_count() or 1, 2)
    truths, counts = [], pd.Series(dtype="int64")
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(cfg,)) as pool:
        for done, (truth, chunk_counts) in enumerate(pool.map(_run_chunk, chunks), start=1):
            truths.append(truth)
            counts = counts.add(pd.Series(chunk_counts), fill_value=0)
            if progress:
                progress(done, len(chunks))
    truth = pd.concat(truths, ignore_index=True)
    (tmp / "truth").mkdir()
    truth.to_parquet(tmp / "truth" / "customers.parquet", index=False)
    world.campaigns.merge(world.offers[["offer_idx", "offer_id"]]).merge(
        world.contracts[["contract_idx", "contract_id"]]
    ).assign(sent_at=lambda d: cfg.start + pd.to_timedelta(d["day"], unit="D")).to_parquet(
        tmp / "truth" / "campaigns.parquet", index=False
    )
    _write_reference(world, truth, tmp / "reference")
    write_policies(world, tmp / "policies")
    manifest = _manifest(cfg, counts, truth, world)
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _write_reference(world: World, truth: pd.DataFrame, folder: Path) -> None:
    folder.mkdir()
    customers = pd.DataFrame(
        {
            "customer_id": truth["customer_id"],
            "region": pd.Categorical.from_codes(truth["region"], REGIONS),
            "acquisition_channel": pd.Categorical.from_codes(truth["acquisition"], ACQUISITION),
            "birth_year": truth["birth_year"].astype("int32"),
        }
    )
    tables = {
        "customers": customers,
        "partners": world.partners.drop(columns=["partner_idx", "home_share"]),
        "contracts": world.contracts.drop(columns=["contract_idx"]),
        "offers": world.offers.drop(columns=["offer_idx", "contract_idx"]),
    }
    for name, frame in tables.items():
        frame.assign(schema_version=SCHEMA_VERSION).to_parquet(
            folder / f"{name}.parquet", index=False
        )


def _manifest(cfg: params.SimConfig, counts: pd.Series, truth: pd.DataFrame, world: World) -> dict:
    return {
        "generator": "loyalty-simulator",
        "generator_version": GENERATOR_VERSION,
        "schema_version": SCHEMA_VERSION,
        "seed": cfg.seed,
        "customers": cfg.customers,
        "start": cfg.start.date().isoformat(),
        "months": cfg.months,
        "end": cfg.end.date().isoformat(),
        "scenarios": [{"name": s.name, "starts": s.starts.isoformat()} for s in cfg.scenarios],
        "events": int(counts.sum()),
        "event_counts": {k: int(v) for k, v in counts.sort_index().items()},
        "partners": world.partners["partner_id"].tolist(),
        "contracts": world.contracts["contract_id"].tolist(),
        "offers": len(world.offers),
        "campaigns": len(world.campaigns),
        "abusers": int(truth["abuser"].sum()),
        "lapsed_by_end": int((truth["lapse_day"] < world.horizon_days).sum()),
    }
