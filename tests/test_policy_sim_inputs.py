"""`policy simulate` reads what `loyalty score-batch` writes, for tables with several snapshots
per customer, and refuses what it cannot use with exit 2 and a message naming it."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import yaml
from test_policy_helpers import doc
from typer.testing import CliRunner

from features.errors import InputError
from guardrails.policy.sim_inputs import attach_scores, select_rows
from loyalty.cli import app

runner = CliRunner()
Q1, Q2 = pd.Timestamp("2025-03-01", tz="UTC"), pd.Timestamp("2025-06-01", tz="UTC")
# two snapshots; customer 1 moves from partner P1 to P2 between them
FEATURES = pd.DataFrame(
    {
        "customer_id": [1, 2, 3, 1, 2, 3],
        "as_of": [Q1, Q1, Q1, Q2, Q2, Q2],
        "partner_id": ["P1", "P1", "P2", "P2", "P1", "P2"],
        "tenure_days": [100.0, 200.0, 300.0, 190.0, 290.0, 390.0],
        "tier": ["gold"] * 6,
        "consent_marketing": 1,
        "consent_data_sharing": 1,
        "churn": [0, 1, 0, 0, 1, 1],  # a dataset's label: replaced by the scores
    }
)
# score-batch layout: one customers row per feature row, in order, without as_of
CUSTOMERS = pd.DataFrame(
    {
        "customer_id": [1, 2, 3, 1, 2, 3],
        "churn": [0.11, 0.12, 0.13, 0.21, 0.22, 0.23],
        "churn_model": "loyalty-churn/1",
        "risk": [0.01, 0.02, 0.03, 0.04, 0.05, 0.06],
        "risk_model": "loyalty-risk/1",
    }
)
# one pair per (feature row, offer of the row's partner): P1 offers A and B, P2 offers Z
PAIRS = pd.DataFrame(
    [
        (1, "A", 0.3),
        (1, "B", 0.31),
        (2, "A", 0.4),
        (2, "B", 0.41),
        (3, "Z", 0.9),
        (1, "Z", 0.8),
        (2, "A", 0.5),
        (2, "B", 0.51),
        (3, "Z", 0.9),
    ],
    columns=["customer_id", "offer_id", "propensity"],
).assign(propensity_model="loyalty-propensity/1")


def test_score_batch_rows_find_their_snapshot_by_order() -> None:
    got = attach_scores(FEATURES, CUSTOMERS, PAIRS, "P1", ["A", "B"], "--scores s")
    assert got["churn"].tolist() == [0.11, 0.12, 0.13, 0.21, 0.22, 0.23]
    assert got["risk"].tolist() == [0.01, 0.02, 0.03, 0.04, 0.05, 0.06]
    # customer 1's second row is partner P2's: no propensity for the P1 offers there
    assert got["propensity:A"].fillna(-1).tolist() == [0.3, 0.4, -1, -1, 0.5, -1]
    assert got["propensity:B"].fillna(-1).tolist() == [0.31, 0.41, -1, -1, 0.51, -1]
    assert "churn_model" not in got.columns and "propensity:Z" not in got.columns
    assert got[["customer_id", "as_of", "tenure_days"]].equals(
        FEATURES[["customer_id", "as_of", "tenure_days"]]
    )


def test_scores_with_as_of_join_on_it_in_any_order() -> None:
    keyed = CUSTOMERS.assign(as_of=FEATURES["as_of"].dt.strftime("%Y-%m-%d")).iloc[::-1]
    pairs = pd.DataFrame(
        {"customer_id": ["2", "2"], "as_of": [Q2, Q1], "offer_id": "A", "propensity": [0.5, 0.4]}
    )
    got = attach_scores(FEATURES, keyed, pairs, "P1", ["A", "B"], "s")
    assert got["churn"].tolist() == [0.11, 0.12, 0.13, 0.21, 0.22, 0.23]
    assert got["propensity:A"].fillna(-1).tolist() == [-1, 0.4, -1, -1, 0.5, -1]


def test_one_score_row_per_customer_serves_every_snapshot() -> None:
    once = pd.DataFrame({"customer_id": ["1", "2", "3"], "churn": [0.1, 0.2, 0.3], "risk": 0.0})
    got = attach_scores(FEATURES, once, None, "P1", ["A"], "s")
    assert got["churn"].tolist() == [0.1, 0.2, 0.3, 0.1, 0.2, 0.3]


@pytest.mark.parametrize(
    ("customers", "pairs", "message"),
    [
        (
            CUSTOMERS.iloc[:5],
            None,
            "s: customer 3 has 1 score row(s) and 2 feature row(s) (1 customers differ)",
        ),
        (
            CUSTOMERS.assign(as_of=[Q1, Q1, Q1, Q2, Q2, Q1]),
            None,
            "s: customer 3 has two rows at 2025-03-01",
        ),
        (CUSTOMERS.drop(columns=["customer_id"]), None, "s: no customer_id column"),
        (CUSTOMERS, PAIRS.drop(columns=["propensity"]), "s (offers): no propensity column"),
        (
            CUSTOMERS,
            PAIRS.iloc[:-3],
            "s (offers): customer 2 has 1 score row(s) and 2 feature row(s)",
        ),
    ],
)
def test_scores_that_do_not_fit_the_table_are_refused(customers, pairs, message) -> None:
    with pytest.raises(InputError) as caught:
        attach_scores(FEATURES, customers, pairs, "P1", ["A", "B"], "s")
    assert str(caught.value).startswith(message)


def test_select_rows_last_all_or_one_snapshot() -> None:
    assert select_rows(FEATURES, "last")["tenure_days"].tolist() == [190.0, 290.0, 390.0]
    assert len(select_rows(FEATURES, "all")) == 6
    assert select_rows(FEATURES, Q1)["tenure_days"].tolist() == [100.0, 200.0, 300.0]
    missing = r"--as-of 2025-04-01: no rows at that time \(the table has: 2025-03-01, 2025-06-01\)"
    with pytest.raises(InputError, match=missing):
        select_rows(FEATURES, pd.Timestamp("2025-04-01", tz="UTC"))
    with pytest.raises(InputError, match="column 'as_of': row 1: 'soon' is not a date"):
        select_rows(FEATURES.assign(as_of=["2025-03-01", "soon", "x", "y", "z", "w"]), "last")
    no_time = FEATURES.drop(columns=["as_of"])
    assert len(select_rows(no_time, "last")) == 6
    with pytest.raises(InputError, match="no as_of column"):
        select_rows(no_time, Q1)


# --- the command line, on score-batch output -------------------------------------------------


def _policy(tmp_path: Path) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc(**{"budget.points_per_period": 100_000})))
    return path


def _score_batch_folder(tmp_path: Path, customers=CUSTOMERS, pairs=PAIRS) -> Path:
    """Written as score-batch lays it out: customers/, offers/ and summary.json."""
    out = tmp_path / "scores"
    for name, frame in (("customers", customers), ("offers", pairs)):
        (out / name).mkdir(parents=True)
        frame.to_parquet(out / name / "part-00000.parquet", index=False)
    (out / "summary.json").write_text(json.dumps({"customers": len(customers)}))
    return out


def _simulate(tmp_path: Path, scores: Path, *extra: str):
    features = tmp_path / "features"
    features.mkdir(exist_ok=True)
    FEATURES.to_parquet(features / "part-00000.parquet", index=False)
    args = ["policy", "simulate", str(_policy(tmp_path)), "--features", str(features)]
    env = {"LOYALTY_HOME": str(tmp_path / "home")}
    return runner.invoke(app, [*args, "--scores", str(scores), *extra], env=env)


def test_cli_reads_score_batch_output_of_several_snapshots(tmp_path: Path) -> None:
    scores = _score_batch_folder(tmp_path)
    result = _simulate(tmp_path, scores, "--json", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["rows_in_table"], summary["rows_chosen"], summary["as_of"]) == (
        6,
        3,
        "2025-06-01",
    )
    assert summary["rows_simulated"] == 1  # partner P1 at the last snapshot: customer 2 only
    decisions = pd.read_parquet(tmp_path / "out" / "decisions.parquet")
    assert decisions[["customer_id", "offer_id", "points"]].to_dict("records") == [
        {"customer_id": "2", "offer_id": "A", "points": 1000}
    ]
    # EV of A for customer 2 at Q2: 0.5 x 100 x churn 0.22 - 1000 x 0.01
    assert decisions["expected_value"].iloc[0] == pytest.approx(0.5 * 100 * 0.22 - 10)
    every = json.loads(_simulate(tmp_path, scores, "--json", "--as-of", "all").output)
    assert (every["rows_chosen"], every["rows_simulated"], every["as_of"]) == (6, 3, "all")
    first = json.loads(_simulate(tmp_path, scores, "--json", "--as-of", "2025-03-01").output)
    assert (first["rows_simulated"], first["offers"], first["as_of"]) == (2, 0, "2025-03-01")
    assert first["rule_binds"] == {"no_offer@arbitration": 2}  # churn 0.11, 0.12: EV below 0


@pytest.mark.parametrize(
    ("customers", "pairs", "message"),
    [
        (CUSTOMERS.iloc[:5], PAIRS, "customer 3 has 1 score row(s) and 2 feature row(s)"),
        (CUSTOMERS.assign(churn="high"), PAIRS, "column 'churn', row 0: 'high' is not a prob"),
        (CUSTOMERS.assign(risk=1.5), PAIRS, "column 'risk', row 0: 1.5 is not a probability"),
    ],
)
def test_cli_refuses_unusable_scores_with_exit_2(tmp_path: Path, customers, pairs, message):
    result = _simulate(tmp_path, _score_batch_folder(tmp_path, customers, pairs))
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert message in " ".join(result.output.split())


def test_cli_refuses_a_scores_folder_it_cannot_read(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "summary.json").write_text("{}")
    result = _simulate(tmp_path, junk)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert f"--scores {junk}: cannot read the table" in " ".join(result.output.split())
    result = _simulate(tmp_path, tmp_path / "nowhere")
    assert result.exit_code == 2 and "no such file or folder" in result.output


# --- real score-batch output (tiny LightGBM models) ------------------------------------------


def _package(kind: str, features: tuple[dict, ...], seed: int):
    from features.contract import FeatureContract
    from models.calibration import Calibrator
    from models.package import ModelPackage

    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1000, (400, len(features)))
    label = (x[:, 0] + rng.normal(0, 200, 400) > 500).astype(int)
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5}
    booster = lgb.train(params, lgb.Dataset(x, label), 8)
    return ModelPackage(kind, FeatureContract(kind, features), booster, Calibrator("none"))


def test_real_score_batch_output_feeds_the_simulation(tmp_path: Path) -> None:
    from serving.batch import BatchModel, candidate_offers
    from serving.batch_run import score_batch

    tenure = {"name": "tenure_days", "dtype": "float", "neutral": 0.0}
    cost = {"name": "offer_points_cost", "dtype": "float", "neutral": 0.0}
    packages = {
        "churn": _package("churn", (tenure,), 1),
        "risk": _package("risk", (tenure,), 2),
        "propensity": _package("propensity", (tenure, cost), 3),
    }
    models = {k: BatchModel(k, f"loyalty-{k}", 1, p) for k, p in packages.items()}
    offers = candidate_offers(
        pd.DataFrame(
            {
                "offer_id": ["A", "B", "Z"],
                "partner_id": ["P1", "P1", "P2"],
                "offer_type": "voucher",
                "value": 10.0,
                "points_cost": [1000, 500, 700],
                "valid_days": 30,
                "channel": "email",
            }
        ),
        None,
    )
    features = tmp_path / "features"
    features.mkdir()
    FEATURES.to_parquet(features / "part-00000.parquet", index=False)
    out = tmp_path / "scores"
    score_batch(features, out, models, offers, chunk_rows=4)  # two chunks
    from loyalty.commands._policy_sim import read_scores

    customers, pairs = read_scores(out)
    got = attach_scores(FEATURES, customers, pairs, "P1", ["A", "B"], "s")
    np.testing.assert_array_equal(got["churn"], packages["churn"].predict(FEATURES))
    for offer_id, points in (("A", 1000.0), ("B", 500.0)):
        mine = FEATURES["partner_id"] == "P1"
        expected = packages["propensity"].predict(FEATURES[mine].assign(offer_points_cost=points))
        np.testing.assert_array_equal(got.loc[mine, f"propensity:{offer_id}"], expected)
        assert got.loc[~mine, f"propensity:{offer_id}"].isna().all()
    result = _simulate(tmp_path, out, "--json", "--as-of", "all")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows_simulated"] == 3
