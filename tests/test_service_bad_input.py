"""What an outside probe sent the service, each answered with an exact 4xx (never a 500) that
names the field, and nothing written: no reservation, decision, review or audit record, no
intake event. Through HTTP (the ASGI app in-process) on one data home; a DecisionCore on the
same home counts the rows."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from serving.schemas import EXAMPLE_DECIDE, EXAMPLE_EVENTS, EXAMPLE_SCORE
from tests.service_support import (
    BACKFILL,
    ORCH,
    build_home,
    env,
    forget_bentoml_metrics,
    written,
)


@pytest.fixture(scope="module")
def service(trained_home, sim_dir, tmp_path_factory):
    from starlette.testclient import TestClient

    from serving.core import DecisionCore

    values = build_home(trained_home, sim_dir, tmp_path_factory.mktemp("bad") / "home")
    with env(values):
        from serving.service import DecisionService

        forget_bentoml_metrics()
        core = DecisionCore()
        try:
            with TestClient(DecisionService.to_asgi()) as client:
                yield client, core
        finally:
            core.close()


def _decide(key: str, **changes) -> dict:
    return {**EXAMPLE_DECIDE, "idempotency_key": key, **changes}


def _score(features: dict) -> dict:
    return {**EXAMPLE_SCORE, "customers": [{"customer_id": "1", "features": features}]}


def _refused(client, core, path: str, body: dict, status: int = 422) -> dict:
    """POST the body; assert the exact status, that the route's OpenAPI document declares it
    and that nothing was written; the answer."""
    before = written(core)
    r = client.post(path, json=body, headers=ORCH)
    assert r.status_code == status, r.text
    assert written(core) == before
    declared = client.get("/docs.json").json()["paths"][path]["post"]["responses"]
    assert str(status) in declared
    return r.json()


def _unbounded(core, dtype: str) -> str:
    """A numeric feature of the dtype without a maximum: only the size rule can refuse."""
    specs = core.features.contract.features
    return next(f["name"] for f in specs if f["dtype"] == dtype and f["max"] is None)


@pytest.mark.parametrize("value", [10**400, -(10**400), 2**70, 2**53 + 1])
@pytest.mark.parametrize("dtype", ["int", "float"])
@pytest.mark.parametrize("path", ["/decide", "/score"])
def test_huge_integers_in_features_are_422_naming_the_feature(service, path, dtype, value):
    client, core = service
    name = _unbounded(core, dtype)
    features = {name: value}
    key = f"huge-int-{dtype}-{len(str(value))}-{value > 0}"
    body = _decide(key, features=features) if path == "/decide" else _score(features)
    answer = _refused(client, core, path, body)
    (problem,) = answer["problems"]
    assert problem.startswith(f"features.{name}: ") and "too large" in problem
    assert len(problem) < 120  # a 400-digit number is shown cut short


@pytest.mark.parametrize("dtype", ["int", "float"])
def test_the_largest_exact_integer_is_still_a_number(service, dtype):
    client, core = service
    r = client.post("/score", json=_score({_unbounded(core, dtype): 2**53}), headers=ORCH)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "when",
    [
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:00:00-14:00",
        "9999-12-31T23:59:59",
        "1899-12-31T23:59:59Z",
        "2200-01-01T00:00:00Z",
        "2199-12-31T23:00:00-14:00",  # 2200-01-01T13:00 in UTC
    ],
)
def test_decision_times_near_the_calendar_ends_are_422(service, when):
    client, core = service
    answer = _refused(client, core, "/decide", _decide(f"time-{when[:4]}-{when[-6:]}", time=when))
    (problem,) = answer["problems"]
    assert problem.startswith("time: ") and "1900-01-01 to 2200-01-01" in problem


def test_decision_times_inside_the_range_reach_the_period_rule(service):
    """In range, the time is not refused as a time: a live decision in a closed or future
    period is refused by the period rule (nothing written), a backfill decides it."""
    client, core = service
    for when in ("1900-01-01T00:00:00Z", "2199-12-31T09:00:00-14:00"):
        body = _decide(f"time-ok-{when[:4]}", time=when)
        (problem,) = _refused(client, core, "/decide", body)["problems"]
        assert "decisions reserve only in the current period" in problem, problem
        backfill = {**body, "idempotency_key": f"time-bf-{when[:4]}", "mode": "backfill"}
        assert client.post("/decide", json=backfill, headers=ORCH).status_code == 403
        r = client.post("/decide", json=backfill, headers=BACKFILL)
        assert r.status_code == 200, r.text
        assert r.json()["status"] in {"no_offer", "simulated"}
        assert r.json()["reservation_id"] is None


@pytest.mark.parametrize(
    ("features", "words"),
    [
        ({"tenure_days": True}, ["features.tenure_days: ", "must be a number, not true"]),
        ({"tenure_days": False}, ["features.tenure_days: ", "not false"]),
        ({"consent_marketing": True}, ["features.consent_marketing: ", "not true"]),
    ],
)
@pytest.mark.parametrize("path", ["/decide", "/score"])
def test_a_boolean_for_a_numeric_feature_is_422(service, path, features, words):
    client, core = service
    key = f"bool-{next(iter(features))}-{next(iter(features.values()))}"
    body = _decide(key, features=features) if path == "/decide" else _score(features)
    (problem,) = _refused(client, core, path, body)["problems"]
    assert all(w in problem for w in words), problem


@pytest.mark.parametrize("path", ["/decide", "/score"])
def test_an_unknown_category_level_is_422_naming_the_levels(service, path):
    client, core = service
    spec = next(f for f in core.features.contract.features if f["dtype"] == "category")
    features = {spec["name"]: "no-such-level"}
    body = _decide("unknown-level-1", features=features) if path == "/decide" else _score(features)
    (problem,) = _refused(client, core, path, body)["problems"]
    assert problem.startswith(f"features.{spec['name']}: unknown level 'no-such-level'")
    assert f"levels: {', '.join(spec['categories'])}" in problem


def test_a_known_category_level_is_accepted(service):
    client, core = service
    spec = next(f for f in core.features.contract.features if f["dtype"] == "category")
    body = _score({spec["name"]: spec["categories"][0]})
    assert client.post("/score", json=body, headers=ORCH).status_code == 200


def _event(**changes) -> dict:
    return {**EXAMPLE_EVENTS["events"][0], **changes}


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (
            _event(event_id="bad-1", consent_scope=None),
            "events[1].consent_scope: consent_changed events need consent_scope",
        ),
        (
            _event(event_id="bad-2", consent_granted=None),
            "events[1].consent_granted: consent_changed events need consent_granted",
        ),
        (
            _event(event_id="bad-3", event_type="offer_sent", partner_id="P01", contract_id="C"),
            "events[1].offer_id: offer_sent events need offer_id",
        ),
        (
            _event(event_id="bad-4", occurred_at="0001-01-01T00:00:00Z"),
            "events[1].occurred_at: 0001-01-01T00:00:00+00:00 is outside the accepted range",
        ),
        (
            _event(event_id="bad-5", occurred_at="9999-12-31T23:00:00-14:00"),
            "events[1].occurred_at: 9999-12-31T23:00:00-14:00 is outside the accepted range",
        ),
    ],
)
def test_events_without_what_their_type_needs_are_422_and_none_is_stored(service, event, problem):
    client, core = service
    good = _event(event_id="good-next-to-bad")  # refused with the batch: nothing half-stored
    answer = _refused(client, core, "/events", {"events": [good, event]})
    assert [p for p in answer["problems"] if p.startswith(problem)], answer["problems"]


def test_the_one_status_table_answers_every_route_by_type(service):
    """An unknown review (404) and a review settled already (409) through the path routes, as
    ReviewNotFoundError and ReviewSettledError; the message text plays no part."""
    from tests.service_support import REVIEWER

    client, core = service
    before = written(core)
    r = client.post("/reviews/no-such-review/approve", json={"by": "alice"}, headers=REVIEWER)
    assert r.status_code == 404 and "no-such-review" in r.json()["error"]
    r = client.post("/reviews/x/maybe", json={"by": "alice"}, headers=REVIEWER)
    assert r.status_code == 404
    assert written(core) == before


class _Logged:
    """Every record the service's, BentoML's and uvicorn's loggers emit during the block."""

    NAMES = ("", "bentoml", "bentoml.access", "bentoml._internal.server.http_app", "loyalty")

    def __enter__(self) -> list[logging.LogRecord]:
        self.records: list[logging.LogRecord] = []
        self.handler = logging.Handler(logging.DEBUG)
        self.handler.emit = self._keep  # type: ignore[method-assign]
        self.levels = {}
        for name in self.NAMES:
            logger = logging.getLogger(name)
            self.levels[name] = logger.level
            logger.setLevel(logging.DEBUG if name == "loyalty" else logger.level)
            logger.addHandler(self.handler)
        return self.records

    def _keep(self, record: logging.LogRecord) -> None:
        if all(r is not record for r in self.records):
            self.records.append(record)

    def __exit__(self, *exc: object) -> None:
        for name in self.NAMES:
            logging.getLogger(name).removeHandler(self.handler)
            logging.getLogger(name).setLevel(self.levels[name])


@pytest.mark.parametrize("declared", [True, False])
@pytest.mark.parametrize("path", ["/decide", "/decisions/d-x/cancel"])
def test_a_client_gone_mid_body_is_one_info_line(service, path, declared):
    """The client sends part of the body, then disconnects: no answer, no 500, no traceback,
    one info line, nothing written."""
    client, core = service
    headers = [(b"authorization", ORCH["Authorization"].encode()), (b"host", b"testserver")]
    headers.append((b"content-type", b"application/json"))
    if declared:
        headers.append((b"content-length", b"4000"))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    messages = [
        {"type": "http.request", "body": b'{"idempotency_key": "gone-mid-', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    before = written(core)
    with _Logged() as records:
        client.portal.call(client.app, scope, receive, send)
    assert [m for m in sent if m["type"] == "http.response.start"] == []
    loud = [r for r in records if r.levelno >= logging.WARNING or r.exc_info]
    assert loud == [], [r.getMessage() for r in loud]
    gone = [r for r in records if "went away" in r.getMessage()]
    assert len(gone) == 1 and gone[0].levelno == logging.INFO, [r.getMessage() for r in records]
    assert written(core) == before


def _samples(metric: str) -> dict[str, float]:
    """``{partner label: value}`` of one metric, as the process's registry exposes it (what
    ``/metrics`` serves; the in-process test client cannot call BentoML's multiprocess
    endpoint, the real-server test in test_service_serve.py does)."""
    from prometheus_client import REGISTRY, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    text = generate_latest(REGISTRY).decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == metric:
                out[s.labels["partner"]] = s.value
    return out


def test_partner_labels_come_only_from_known_partners_and_lags_are_never_negative(service):
    """5,000 made-up partner ids (control characters included), dated in the future: one
    ``unknown`` series, no negative lag, the future-dated events counted on their own."""
    client, core = service
    known = core.known_partners()
    partner = sorted(known)[0]
    now = dt.datetime.fromtimestamp(core.clock(), dt.UTC)  # the service's clock
    ahead = (now + dt.timedelta(days=3)).isoformat()
    made_up = [f"zz-{i}" for i in range(4998)] + ["bad\x01\x1b[31m", "new\nline"]
    before = _samples("loyalty_events_future_dated_total")
    for start in range(0, len(made_up), 1000):
        events = [
            {
                **_event(event_id=f"label-{start + i}", occurred_at=ahead),
                "partner_id": p,
            }
            for i, p in enumerate(made_up[start : start + 1000])
        ]
        r = client.post("/events", json={"events": events}, headers=ORCH)
        assert r.status_code == 200, r.text
    past = (now - dt.timedelta(hours=1)).isoformat()
    own = [
        _event(event_id="label-known", partner_id=partner, occurred_at=ahead),
        _event(event_id="label-known-past", partner_id=partner, occurred_at=past),
        _event(event_id="label-made-up-past", partner_id="zz-past\x07", occurred_at=past),
    ]
    assert client.post("/events", json={"events": own}, headers=ORCH).status_code == 200
    core.refresh()  # the poller's round: the lag gauge per partner label
    future = _samples("loyalty_events_future_dated_total")
    lags = _samples("loyalty_event_intake_lag_seconds")
    allowed = known | {"unknown", "none"}
    assert set(future) <= allowed and set(lags) <= allowed, (set(future), set(lags))
    assert future["unknown"] - before.get("unknown", 0) == len(made_up)
    assert future[partner] - before.get(partner, 0) == 1
    assert min(lags.values()) >= 0
    assert 3000 < lags[partner] < 4000  # an hour: the partner's future event is not "fresh"
    assert 3000 < lags["unknown"] < 4000
