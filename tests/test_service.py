"""The decision service, called directly (DecisionCore + operations): decide, idempotency,
errors that write nothing, commit/cancel/lookup, review routing and the event intake."""

from __future__ import annotations

import pytest

from serving.auth import Principal
from serving.schemas import EXAMPLE_DECIDE, DecideRequest, ReviewAction, ScoreRequest
from tests.service_support import CONSENTED, REVIEW_CONTRACT, LookupSpy, build_home, env


@pytest.fixture(scope="module")
def core(trained_home, sim_dir, tmp_path_factory):
    from serving.core import DecisionCore

    values = build_home(trained_home, sim_dir, tmp_path_factory.mktemp("svc") / "home")
    with env(values):
        c = DecisionCore()
        yield c
        c.close()


def _req(key: str, **changes) -> DecideRequest:
    return DecideRequest(**{**EXAMPLE_DECIDE, "idempotency_key": key, **changes})


def _counts(core) -> tuple[int, int]:
    rows = core.stores.ledger.db.run(
        lambda tx: tx.one("SELECT COUNT(*) FROM reservations"), write=False
    )
    return core.stores.audit.count(), int(rows[0])


def _offer_decision(core, prefix: str, contract: str = "C-P01"):
    """The first customer who gets an offer under the contract (consent sent as features)."""
    from features.errors import NotFoundError
    from serving import operations

    for cid in range(1, 400):
        req = _req(f"{prefix}-{cid:05d}", customer_id=str(cid), contract_id=contract,
                   features=CONSENTED)  # fmt: skip
        try:
            out = operations.decide(core, req)
        except NotFoundError:  # withdrew data sharing by the snapshot: no features stored
            continue
        if out["reservation_id"]:
            return out
    pytest.fail("no customer got an offer")


def test_ready_with_champions_policies_and_ledger(core):
    ok, checks = core.readiness()
    assert ok, checks
    assert set(checks["models"]) == {"churn", "propensity", "risk"}
    assert checks["models_source"] == "registry" and checks["ledger"] == "ok"


def test_score_gives_probabilities_versions_and_reasons_on_request(core):
    from serving import operations

    two = [{"customer_id": "2"}, {"customer_id": "16", "features": CONSENTED}]
    req = ScoreRequest(customers=two, contract_id="C-P01")
    plain = operations.score(core, req)
    assert [r["customer_id"] for r in plain["results"]] == ["2", "16"]
    for r in plain["results"]:
        assert 0 <= r["churn"] <= 1 and 0 <= r["risk"] <= 1 and r["reasons"] is None
        assert len(r["propensity"]) == 4 and r["consent"] is None
    assert plain["model_versions"]["churn"].startswith("loyalty-churn/")
    explained = operations.score(core, req.model_copy(update={"explain": True}))
    assert explained["results"][0]["churn"] == plain["results"][0]["churn"]
    reasons = explained["results"][0]["reasons"]["churn"]
    assert reasons and all(r["text"] and r["feature"] for r in reasons)


def test_a_customer_whose_consent_forbids_data_use_is_not_scored_and_nothing_read(core):
    """Customer 1 of the test data withdrew data-sharing consent, so not even their own partner
    may use their data: their consent record is read, no feature row, and no score."""
    from serving import operations

    with LookupSpy(core.features) as spy:
        req = ScoreRequest(customers=[{"customer_id": "1"}, {"customer_id": "2"}], explain=True)
        out = operations.score(core, req)
    first, second = out["results"]
    assert (first["churn"], first["risk"], first["propensity"], first["reasons"]) == (
        None, None, {}, None)  # fmt: skip
    assert first["consent"] == (
        "Not scored: the customer has not consented to their own partner (P01) using their "
        "data. On record: marketing granted (the feature snapshot of "
        f"{core.features.as_of.date().isoformat()}); data sharing withdrawn (the feature "
        f"snapshot of {core.features.as_of.date().isoformat()})."
    )
    assert second["churn"] is not None and second["consent"] is None
    assert spy.calls == [["2"]]  # customer 1's features were never read
    under = operations.score(
        core, ScoreRequest(customers=[{"customer_id": "1"}], contract_id="C-P01")
    )
    assert under["results"][0]["consent"].startswith(
        "Not scored: the customer has not consented to partner P01 using their data. On record: "
    )


def test_sent_features_override_stored_ones(core):
    from serving import operations

    base = operations.score(core, ScoreRequest(customers=[{"customer_id": "2"}]))
    quiet = {"days_since_last_activity": 3000.0, "points_earned_90d": 0.0}
    moved = operations.score(
        core, ScoreRequest(customers=[{"customer_id": "2", "features": quiet}])
    )
    busy = {"days_since_last_activity": 1.0, "points_earned_90d": 5000.0}
    active = operations.score(
        core, ScoreRequest(customers=[{"customer_id": "2", "features": busy}])
    )
    assert active["results"][0]["churn"] < moved["results"][0]["churn"]
    assert base["results"][0]["churn"] is not None


def test_decide_records_and_replays_without_reserving_twice(core):
    from serving import operations

    first = _offer_decision(core, "replay")
    before = _counts(core)
    again = operations.decide(
        core,
        _req(first["idempotency_key"], customer_id=_customer_of(core, first), features=CONSENTED),
    )
    assert again["replayed"] is True
    assert {**again, "replayed": False} == first
    assert _counts(core) == before
    assert first["status"] == "approved" and first["points"] > 0
    assert first["versions"]["policy"] and first["versions"]["models"]
    assert any(r["code"] == "chosen" for r in first["reasons"])


def _customer_of(core, decision: dict) -> str:
    return decision["idempotency_key"].rsplit("-", 1)[1].lstrip("0")


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"contract_id": "C-NONE"}, 404),
        ({"customer_id": "no-such-customer"}, 404),
        ({"features": {"tenure_days": -3.0}}, 422),
        ({"features": {"not_a_feature": 1}}, 422),
        ({"features": {"tier": 3}}, 422),
    ],
)
def test_rejected_requests_write_nothing(core, changes, status):
    from features.errors import RefusedError
    from serving import operations
    from serving.errors import status_of

    before = _counts(core)
    with pytest.raises(RefusedError) as err:
        operations.decide(core, _req(f"bad-{status}-{len(str(changes))}-{id(changes)}", **changes))
    assert status_of(err.value) == status
    assert _counts(core) == before


def test_key_reuse_with_another_payload_is_a_conflict(core):
    from features.errors import ConflictError
    from serving import operations

    operations.decide(core, _req("conflict-key-1"))
    before = _counts(core)
    with pytest.raises(ConflictError):
        operations.decide(core, _req("conflict-key-1", channel="sms"))
    assert _counts(core) == before


def test_commit_then_cancel_reverses_and_lookup_shows_state(core):
    from serving import actions

    d = _offer_decision(core, "commit")
    assert actions.get_decision(core, d["decision_id"])["state"] == "held"
    assert actions.commit(core, d["decision_id"])["state"] == "committed"
    assert actions.commit(core, d["decision_id"])["state"] == "committed"  # a repeat is a no-op
    assert actions.cancel(core, d["decision_id"], "returned")["state"] == "reversed"
    events = [r.event for r in core.stores.audit.for_decision(d["decision_id"])]
    assert events == ["decision", "commit", "commit", "cancel"]
    assert core.stores.audit.verify().ok


def test_the_service_sweep_releases_holds_left_past_their_ttl(core):
    import time

    from serving import actions

    d = _offer_decision(core, "sweep")
    assert actions.get_decision(core, d["decision_id"])["state"] == "held"
    _, holds = core.sweep_expired(now=time.time() + 86_400)
    assert holds >= 1
    assert actions.get_decision(core, d["decision_id"])["state"] == "expired"
    assert core.stores.ledger.reconcile() == []


def test_review_route_holds_budget_until_approved(core):
    from features.errors import ConflictError
    from serving import actions

    d = _offer_decision(core, "review", contract=REVIEW_CONTRACT)
    assert d["status"] == "pending_review" and d["review_id"]
    with pytest.raises(ConflictError):
        actions.commit(core, d["decision_id"])
    pending = {r["review_id"] for r in actions.review_list(core)}
    assert d["review_id"] in pending
    rita = Principal("rita", frozenset({"reviewer"}))
    approved = actions.review_resolve(
        core, d["review_id"], True, rita, ReviewAction(note="known customer")
    )
    assert approved["status"] == "approved"
    assert actions.get_decision(core, d["decision_id"])["state"] == "committed"


def test_cancel_racing_a_reviewers_approve_is_a_conflict_that_writes_nothing(core, monkeypatch):
    """The reviewer's approve lands between cancel reading the pending review and rejecting
    it (about 1 in 12 in a focused race over HTTP, a 500 before): ReviewSettledError, a 409;
    the cancel wrote nothing, and a second cancel reverses the approved reward."""
    from guardrails.review import ReviewSettledError
    from serving import actions
    from serving.errors import status_of

    d = _offer_decision(core, "race-cancel", contract=REVIEW_CONTRACT)
    queue = core.stores.reviews
    real_reject = queue.reject

    def reviewer_first(review_id, *args, **kwargs):
        queue.approve(review_id, "alice")  # the real approve, just before the real reject
        return real_reject(review_id, *args, **kwargs)

    monkeypatch.setattr(queue, "reject", reviewer_first)
    with pytest.raises(ReviewSettledError, match="already approved") as err:
        actions.cancel(core, d["decision_id"], "campaign stopped")
    monkeypatch.undo()
    assert status_of(err.value) == 409
    events = [r.event for r in core.stores.audit.for_decision(d["decision_id"])]
    assert events == ["decision", "review.approved"]  # no reject, no cancel record
    assert actions.get_decision(core, d["decision_id"])["state"] == "committed"
    assert actions.cancel(core, d["decision_id"], "campaign stopped")["state"] == "reversed"


@pytest.mark.parametrize(("setting", "bars"), [(None, False), ("true", True)])
def test_models_load_from_the_registry_without_progress_bars(
    core, monkeypatch, capfd, setting, bars
):
    """MLflow draws tqdm download bars into the service log unless told not to: the service
    turns them off by default; an operator's explicit setting still wins."""
    import shutil

    from serving.core import DecisionCore

    name = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    if setting is None:
        monkeypatch.delenv(name, raising=False)
    else:
        monkeypatch.setenv(name, setting)
    shutil.rmtree(core.settings.model_cache_dir)  # every package is downloaded again
    capfd.readouterr()
    other = DecisionCore(core.settings)
    other.close()
    err = capfd.readouterr().err
    assert other.models.source == "registry"
    assert ("Downloading artifacts" in err) is bars, err[-500:]


def test_consent_withdrawal_takes_effect_on_the_next_decision(core):
    from serving import actions, operations

    d = _offer_decision(core, "consent")
    cid = _customer_of(core, d)
    event = {
        "event_id": f"consent-{cid}",
        "event_type": "consent_changed",
        "occurred_at": "2025-09-30T00:00:00Z",
        "customer_id": cid,
        "consent_scope": "marketing",
        "consent_granted": False,
    }
    assert actions.intake(core, [event]) == {"accepted": 1, "duplicates": 0}
    assert actions.intake(core, [event]) == {"accepted": 0, "duplicates": 1}
    after = operations.decide(core, _req("consent-after-1", customer_id=cid))
    assert after["offer_id"] is None and after["reservation_id"] is None
    assert "consent_marketing" in [r["code"] for r in after["reasons"]]
    (reason,) = [r for r in after["reasons"] if r["code"] == "consent_marketing"]
    assert "marketing withdrawn (consent_changed event of 2025-09-30T00:00:00Z)" in reason["text"]
    basis = [r["text"] for r in d["reasons"] if r["code"] == "consent_basis"]
    assert basis and "On record: marketing granted (sent with the request)" in basis[0], basis


def test_alias_move_is_picked_up_and_challenger_scored_in_shadow(core):
    """A new challenger version appears in the registry: refresh swaps the model set, the
    answer still comes from the champion, and both scores land in the audit record."""
    from mlflow import MlflowClient

    from serving import operations

    before = operations.decide(core, _req("shadow-before-1", customer_id="1001"))
    assert core.models.challengers == {}
    uri = core.settings.tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    for kind in ("churn", "risk"):
        name = f"loyalty-{kind}"
        champ = client.get_model_version_by_alias(name, "champion")
        new = client.create_model_version(name, champ.source, run_id=champ.run_id)
        client.set_registered_model_alias(name, "challenger", new.version)
    assert core.refresh() is True
    assert set(core.models.challengers) == {"churn", "risk"}
    d = operations.decide(core, _req("shadow-after-1", customer_id="1001"))
    assert d["scores"] == before["scores"]  # the champion answers; the shadow never does
    body = operations.prior_decision(core, d["decision_id"])
    assert body["scores"]["shadow_churn"] == pytest.approx(body["scores"]["churn"])
    shadow, served = body["details"]["shadow_models"], body["model_versions"]
    assert shadow["churn"] != served["churn"] and shadow["risk"] == f"loyalty-risk/{new.version}"
    assert core.refresh() is False  # nothing moved since


@pytest.mark.parametrize("consent", [{"consent_marketing": 0}, CONSENTED])
def test_workers_racing_one_new_key_record_one_decision(core, monkeypatch, consent):
    """Two workers (separate cores: own connections) get the same new key at once and both
    pass the replay check; the first to record wins and the other answers with its decision.
    Without consent nothing is reserved, so only the decision record can serialize them."""
    import threading

    from serving import operations, records
    from serving.core import DecisionCore

    other = DecisionCore(core.settings)
    barrier = threading.Barrier(2)
    real = records.record_decision

    def both_then_record(*args, **kwargs):
        barrier.wait(30)  # neither has recorded yet: both computed a decision
        return real(*args, **kwargs)

    monkeypatch.setattr(operations, "record_decision", both_then_record)
    key = f"race-{len(consent)}-00001"
    req = _req(key, customer_id="7", features=consent)
    answers = {}
    before = _counts(core)

    def worker(name, c):
        answers[name] = operations.decide(c, req)

    threads = [threading.Thread(target=worker, args=(n, c)) for n, c in (("a", core), ("b", other))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        other.close()
    a, b = answers["a"], answers["b"]
    assert sorted([a["replayed"], b["replayed"]]) == [False, True]
    assert {**a, "replayed": False} == {**b, "replayed": False}
    decision_id = operations.decision_id_for(key)
    events = [r.event for r in core.stores.audit.for_decision(decision_id)]
    assert events == ["decision"]
    audits, reservations = _counts(core)
    assert audits == before[0] + 1
    assert reservations == before[1] + (1 if a["reservation_id"] else 0)


# -- the Redis online store ---------------------------------------------------------------------
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_prefix():
    """A unique key prefix on the local Redis, removed after the test; skips loudly when Redis
    cannot be reached."""
    import uuid

    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"REDIS UNREACHABLE at {REDIS_URL} - Redis feature store tests SKIPPED: {exc}")
    prefix = f"test-features-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)


def test_materialize_into_redis_serves_what_the_embedded_store_serves(core, sim_dir, redis_prefix):
    """`loyalty features materialize` with LOYALTY_FEATURE_STORE_URL writes Redis; the store
    reads the same typed rows as the embedded file, and the service scores the same."""
    import pandas as pd
    from typer.testing import CliRunner

    from features.online_store_redis import RedisFeatureStore
    from loyalty.cli import app
    from serving import operations
    from serving.feature_store import open_store

    values = {"LOYALTY_FEATURE_STORE_URL": REDIS_URL, "LOYALTY_FEATURE_STORE_PREFIX": redis_prefix}
    as_of = core.features.as_of.isoformat()
    with env(values):
        done = CliRunner().invoke(
            app, ["features", "materialize", "--events", str(sim_dir), "--as-of", as_of]
        )
        assert done.exit_code == 0, done.output
        assert redis_prefix in done.output
        settings = type(core.settings)()
        redis_store = open_store(settings)
    assert isinstance(redis_store, RedisFeatureStore)
    embedded = core.features
    assert redis_store.rows == embedded.rows and redis_store.as_of == embedded.as_of
    assert redis_store.contract.hash == embedded.contract.hash
    ids = [str(i) for i in range(1, 400)] + ["no-such-customer"]
    assert redis_store.lookup(ids) == embedded.lookup(ids)
    left = embedded.read(ids).sort_values("customer_key").reset_index(drop=True)
    right = redis_store.read(ids).sort_values("customer_key").reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right)
    req = ScoreRequest(customers=[{"customer_id": "1"}, {"customer_id": "2"}], contract_id="C-P01")
    from_file = operations.score(core, req)
    core.features = redis_store
    try:
        from_redis = operations.score(core, req)
    finally:
        core.features = embedded
    assert from_redis["results"] == from_file["results"]


def test_a_new_redis_snapshot_replaces_the_old_one_atomically(core, redis_prefix):
    from features.online_store_redis import GRACE_S, RedisFeatureStore, write_snapshot_redis

    frame = core.features.read(["1", "2", "3"]).rename(columns={"customer_key": "customer_id"})
    contract, as_of = core.features.contract, core.features.as_of
    write_snapshot_redis(REDIS_URL, redis_prefix, frame, contract, as_of)
    first = RedisFeatureStore(REDIS_URL, redis_prefix)
    assert set(first.lookup(["1", "2", "3", "4"])) == {"1", "2", "3"}
    write_snapshot_redis(REDIS_URL, redis_prefix, frame.head(1), contract, as_of)
    assert first.current_token() != first.token  # the service's poller sees the move
    assert set(first.lookup(["1", "2"])) == {"1", "2"}  # the old one lives for the grace period
    assert 0 < first.client.ttl(f"{redis_prefix}:{first.token}:rows") <= GRACE_S
    second = RedisFeatureStore(REDIS_URL, redis_prefix)
    assert second.rows == 1 and set(second.lookup(["1", "2"])) == {"1"}


def test_unreachable_or_misconfigured_redis_is_a_clear_error(core):
    from features.errors import UnavailableError
    from features.online_store import FeatureStoreUnavailableError
    from features.online_store_redis import RedisFeatureStore
    from serving.feature_store import write_store

    frame = core.features.read(["1"]).rename(columns={"customer_key": "customer_id"})
    contract, as_of = core.features.contract, core.features.as_of
    with pytest.raises(FeatureStoreUnavailableError, match=r"127\.0\.0\.1:1"):
        RedisFeatureStore("redis://127.0.0.1:1/0", "nothing")
    dead = core.settings.model_copy(update={"feature_store_url": "redis://127.0.0.1:1/0"})
    with pytest.raises(FeatureStoreUnavailableError, match="cannot write"):
        write_store(dead, frame, contract, as_of)
    wrong = core.settings.model_copy(update={"feature_store_url": "http://u:secret@host/"})
    with pytest.raises(ValueError, match="redis://") as err:
        write_store(wrong, frame, contract, as_of)
    assert "secret" not in str(err.value)
    saved = core.features
    core.features = None
    try:
        with pytest.raises(UnavailableError):
            core.customer_rows(["1"], [None])
    finally:
        core.features = saved


def test_a_retry_after_a_crash_between_hold_and_record_answers_with_that_hold(core, monkeypatch):
    """The first attempt reserves, then dies before its answer is recorded; the retry with the
    same key must decide as if that hold were free (it is its own), get the same hold back from
    the ledger and answer with exactly what is held."""
    from guardrails.policy import compile_policy
    from serving import operations

    def crash(*args, **kwargs):
        raise RuntimeError("worker died before recording the decision")

    held = None
    for cid in range(1, 400):
        req = _req(f"crash-{cid:05d}", customer_id=str(cid), features=CONSENTED)
        monkeypatch.setattr(operations, "record_decision", crash)
        with pytest.raises(RuntimeError):
            operations.decide(core, req)
        monkeypatch.undo()
        held = core.stores.ledger.find(req.idempotency_key)
        if held is not None and held.ok:
            break
    assert held is not None, "no customer got an offer"
    offer_line = next(ln for ln in held.lines if ln.scope.kind == "offer")
    # the customer's cap is exactly what the hold takes: counted against itself, the hold
    # would leave the customer nothing, and the retry would answer without the held offer
    cp = core.policies[req.contract_id]
    budget = cp.policy.budget.model_copy(update={"customer_points_per_period": offer_line.amount})
    tight = compile_policy(cp.policy.model_copy(update={"budget": budget}))
    monkeypatch.setitem(core.policies, req.contract_id, tight)
    again = operations.decide(core, req)
    assert again["reservation_id"] == held.id and again["replayed"] is False
    assert (again["offer_id"], again["points"]) == (offer_line.scope.key, offer_line.amount)
    assert core.stores.ledger.get(held.id).status == "held"
    assert core.stores.ledger.reconcile() == []


def test_own_grants_count_toward_the_cap_from_the_first_decision(core):
    """Customer after customer is decided again and again: an offer with a cap of 1 per period
    is granted once while the first grant holds, never twice (the intake saw no send)."""
    from serving import operations

    first = _offer_decision(core, "own-grant")
    cid, offer = first["decision_id"], first["offer_id"]
    customer = next(  # the customer of the first granted decision
        str(n) for n in range(1, 400) if operations.decision_id_for(f"own-grant-{n:05d}") == cid
    )
    again = [
        operations.decide(
            core,
            _req(f"own-grant-again-{n}", customer_id=customer, features=CONSENTED),
        )
        for n in range(3)
    ]
    cap = core.policies["C-P01"].policy.offer(offer).cap_per_customer_per_period
    granted = [a["offer_id"] for a in again if a["reservation_id"]].count(offer)
    assert granted <= cap - 1, again
    assert first["reasons"][-1]["code"] == "books"


def test_a_paused_contract_decides_no_offer_and_reserves_nothing(core):
    from serving import operations

    core.controls.pause("C-P01", "finance", "budget under review")
    try:
        before = _counts(core)
        out = operations.decide(core, _req("paused-1", features=CONSENTED))
        assert (out["status"], out["reservation_id"]) == ("no_offer", None)
        assert out["reasons"][0]["code"] == "paused"
        assert "by finance: budget under review" in out["reasons"][0]["text"]
        assert _counts(core)[1] == before[1]  # one more audit record, no reservation
    finally:
        core.controls.resume("C-P01", "finance")
    assert _offer_decision(core, "resumed")["reservation_id"]


def test_a_refresh_with_unchanged_aliases_does_not_ask_mlflow(core, monkeypatch):
    """The embedded registry's alias table is read directly (about a millisecond); MLflow is
    asked only when an alias moved, so a poll costs a worker next to nothing."""
    core.refresh()  # whatever earlier tests moved is loaded now
    monkeypatch.setattr(core, "_load_models", lambda: pytest.fail("a refresh asked MLflow"))
    assert core.refresh() is False


def test_decide_for_a_customer_whose_consent_forbids_data_use_reads_and_stores_no_feature(core):
    """No feature row read, no model run, no score or factor answered or stored; no_offer with
    the consent reasons, and the audit record keeps the consent basis it rests on."""
    from serving import operations

    with LookupSpy(core.features) as spy:
        d = operations.decide(core, _req("consent-first-1"))  # customer 1: sharing withdrawn
    assert spy.calls == []
    assert (d["status"], d["offer_id"], d["factors"]) == ("no_offer", None, {})
    assert d["scores"] == {"churn": None, "risk": None, "propensity": {}}
    assert [r["code"] for r in d["reasons"]] == ["consent_data_use", "not_scored"]
    record = operations.prior_decision(core, d["decision_id"])
    assert record["scores"] == {} and record["details"]["shadow"] == {}
    snapshot = f"the feature snapshot of {core.features.as_of.date().isoformat()}"
    assert record["details"]["consent"] == [
        f"marketing granted ({snapshot})",
        f"data sharing withdrawn ({snapshot})",
    ]
