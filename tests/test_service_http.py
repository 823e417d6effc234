"""The service through HTTP: the ASGI app in-process (auth before work, status codes, public
routes, OpenAPI, metrics) and, marked slow, a real ``bentoml serve`` subprocess."""

from __future__ import annotations

import json

import pytest

from serving.schemas import EXAMPLE_DECIDE, EXAMPLE_EVENTS, EXAMPLE_SCORE
from tests.service_support import (
    CONSENTED,
    OPER,
    ORCH,
    PARTNER1,
    PARTNER2,
    REVIEWER,
    build_home,
    env,
    forget_bentoml_metrics,
)


@pytest.fixture(scope="module")
def client(trained_home, sim_dir, tmp_path_factory):
    from starlette.testclient import TestClient

    values = build_home(trained_home, sim_dir, tmp_path_factory.mktemp("http") / "home")
    with env(values):
        from serving.service import DecisionService

        forget_bentoml_metrics()
        with TestClient(DecisionService.to_asgi()) as c:
            yield c


def _audit_count(client) -> int:
    from loyalty.commands.ledger import open_stores_from_settings

    with open_stores_from_settings(write=False) as stores:
        return stores.audit.count()


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/docs.json"])
def test_public_routes_need_no_token(client, path):
    assert client.get(path).status_code == 200


def test_openapi_lists_the_endpoints_with_examples(client):
    doc = client.get("/docs.json").json()
    assert {"/score", "/explain", "/decide", "/events"} <= set(doc["paths"])
    assert "orch-2025-10-01-0001" in str(doc)


# Every status each route answers, besides 200 (500: the one BentoML declares for its APIs).
DECLARED = {
    ("/healthz", "get"): set(),
    ("/livez", "get"): set(),
    ("/readyz", "get"): set(),
    ("/metrics", "get"): {401, 403},
    ("/score", "post"): {400, 401, 403, 404, 413, 415, 422, 500, 503},
    ("/explain", "post"): {400, 401, 403, 404, 413, 415, 422, 500, 503},
    ("/decide", "post"): {400, 401, 403, 404, 409, 413, 415, 422, 500, 503},
    ("/events", "post"): {400, 401, 403, 413, 415, 422, 500, 503},
    ("/ready", "post"): {400, 401, 403, 413, 500},
    ("/decisions/{decision_id}", "get"): {401, 403, 404, 503},
    ("/decisions/{decision_id}/commit", "post"): {400, 401, 403, 404, 409, 413, 503},
    ("/decisions/{decision_id}/cancel", "post"): {400, 401, 403, 404, 409, 413, 422, 503},
    ("/reviews", "get"): {401, 403, 503},
    ("/reviews/{review_id}/{verdict}", "post"): {400, 401, 403, 404, 409, 413, 422, 503},
}


def test_openapi_declares_the_bearer_scheme_scopes_statuses_and_version(client):
    """Swagger's Authorize needs the scheme; every protected route names its scopes (/metrics:
    operator) and declares exactly the statuses it answers; the version is the package's."""
    from importlib.metadata import version

    from serving.auth import required_scopes

    doc = client.get("/docs.json").json()
    assert doc["info"]["version"] == version("loyalty-decisioning") != "None"
    scheme = doc["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert doc["security"] == [{"bearer": []}]
    ops = {(path, m): op for path, item in doc["paths"].items() for m, op in item.items()}
    assert set(ops) == set(DECLARED)
    for (path, method), op in ops.items():
        statuses = {int(s) for s in op["responses"]} - {200}
        assert statuses == DECLARED[path, method], (path, method, sorted(statuses))
        scopes = required_scopes(path)
        if scopes is None:
            assert op["security"] == [] and "x-required-scopes" not in op, path
        else:
            assert op["security"] == [{"bearer": []}], path
            assert op["x-required-scopes"] == sorted(scopes), path
            assert op["description"].startswith("Needs a bearer token with scope "), path
    assert ops["/metrics", "get"]["x-required-scopes"] == ["operator"]
    refusal = ops["/decide", "post"]["responses"]["422"]["content"]["application/json"]
    assert refusal["schema"] == {"$ref": "#/components/schemas/Refusal"}
    assert "problems" in doc["components"]["schemas"]["Refusal"]["properties"]
    assert client.get("/").status_code == 200  # the Swagger UI: public, reads /docs.json


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("post", "/decide", {}, 401),
        ("post", "/decide", {"Authorization": "Bearer wrong-token"}, 401),
        ("post", "/decide", REVIEWER, 403),
        ("post", "/decide", PARTNER1, 403),
        ("post", "/score", OPER, 403),
        ("post", "/events", REVIEWER, 403),
        ("get", "/metrics", ORCH, 403),
        ("get", "/metrics", {}, 401),
        ("get", "/reviews", ORCH, 403),
        ("get", "/decisions/d-x", REVIEWER, 403),
    ],
)
def test_tokens_and_scopes_are_checked_before_any_work(client, method, path, headers, status):
    before = _audit_count(client)
    body = {"json": EXAMPLE_DECIDE} if method == "post" else {}
    r = getattr(client, method)(path, headers=headers, **body)
    assert r.status_code == status, r.text
    assert _audit_count(client) == before


def test_score_explain_and_decide_over_http(client):
    r = client.post("/score", json=EXAMPLE_SCORE, headers=ORCH)
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["reasons"] is None
    consented = {"customers": [{"customer_id": "2", "features": CONSENTED}]}
    r = client.post("/explain", json=consented, headers=ORCH)
    assert r.status_code == 200 and r.json()["results"][0]["reasons"]["churn"]
    d = client.post("/decide", json=EXAMPLE_DECIDE, headers=ORCH)
    assert d.status_code == 200, d.text
    again = client.post("/decide", json=EXAMPLE_DECIDE, headers=ORCH)
    assert again.json()["replayed"] is True
    assert again.json()["decision_id"] == d.json()["decision_id"]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"customer_id": 5}, 400),
        ({"idempotency_key": "short"}, 400),
        ({"unexpected": 1}, 400),
        ({"channel": "pigeon"}, 400),
        ({"contract_id": "C-NONE"}, 404),
        ({"features": {"tenure_days": "long"}}, 422),
        ({"channel": "sms"}, 409),  # the example's key with another payload
    ],
)
def test_bad_requests_get_4xx_and_write_nothing(client, change, status):
    client.post("/decide", json=EXAMPLE_DECIDE, headers=ORCH)
    before = _audit_count(client)
    body = {**EXAMPLE_DECIDE, "idempotency_key": "bad-request-key", **change}
    if status == 409:
        body["idempotency_key"] = EXAMPLE_DECIDE["idempotency_key"]
    r = client.post("/decide", json=body, headers=ORCH)
    assert r.status_code == status, r.text
    assert _audit_count(client) == before


def test_decision_routes_commit_cancel_and_partner_boundary(client):
    found = None
    for cid in range(1, 300):
        body = {
            **EXAMPLE_DECIDE,
            "idempotency_key": f"http-offer-{cid:05d}",
            "customer_id": str(cid),
            "features": CONSENTED,
        }
        r = client.post("/decide", json=body, headers=ORCH)
        if r.json()["reservation_id"]:
            found = r.json()
            break
    assert found is not None
    path = f"/decisions/{found['decision_id']}"
    assert client.get(path, headers=ORCH).json()["state"] == "held"
    assert client.get(path, headers=PARTNER1).status_code == 200
    assert client.get(path, headers=PARTNER2).status_code == 404  # another partner's decision
    assert client.get("/decisions/d-unknown", headers=ORCH).status_code == 404
    assert client.post(f"{path}/commit", headers=ORCH).json()["state"] == "committed"
    r = client.post(f"{path}/cancel", json={"reason": "returned"}, headers=ORCH)
    assert r.json()["state"] == "reversed"


def test_events_are_idempotent_by_event_id(client):
    r = client.post("/events", json=EXAMPLE_EVENTS, headers=ORCH)
    assert r.status_code == 200 and r.json() == {"accepted": 1, "duplicates": 0}
    r = client.post("/events", json=EXAMPLE_EVENTS, headers=ORCH)
    assert r.json() == {"accepted": 0, "duplicates": 1}
    r = client.post("/events", json={"events": [{"event_id": "x"}]}, headers=ORCH)
    assert r.status_code == 400


def test_reviews_list_for_reviewers(client):
    r = client.get("/reviews", headers=REVIEWER)
    assert r.status_code == 200 and isinstance(r.json(), list)
    r = client.post("/reviews/nope/approve", json={"note": "x"}, headers=REVIEWER)
    assert r.status_code == 404


def test_a_review_is_resolved_as_the_calling_token_never_a_name_in_the_body(client):
    """The reviewer token is named ``rita`` (``TOKEN=reviewer#rita``): a body claiming
    ``mallory`` changes nothing but the note, which keeps what the request said."""
    for cid in range(1, 400):  # the first customer the review contract may make an offer to
        body = {**EXAMPLE_DECIDE, "idempotency_key": f"review-identity-{cid}",
                "customer_id": str(cid), "contract_id": "C-P02", "features": CONSENTED}  # fmt: skip
        decided = client.post("/decide", json=body, headers=ORCH).json()
        if decided.get("status") == "pending_review":  # (a 404: no features stored)
            break
    assert decided["status"] == "pending_review", decided
    rid = decided["review_id"]
    r = client.post(f"/reviews/{rid}/approve", json={"by": "mallory", "note": "known"},
                    headers=REVIEWER)  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["resolved_by"] == "rita"
    from loyalty.commands.ledger import open_stores_from_settings

    with open_stores_from_settings(write=False) as stores:
        rows = stores.audit.for_decision(decided["decision_id"])
    (record,) = [json.loads(r.body) for r in rows if r.event == "review.approved"]
    assert (record["caller"], record["details"]["note"]) == (
        "rita",
        "known (request named: mallory)",
    )


class _Records:
    """Collects what BentoML's request logger emits (after the service's filter)."""

    def __init__(self) -> None:
        import logging

        self.records: list[logging.LogRecord] = []
        self.handler = logging.Handler()
        self.handler.emit = self.records.append  # type: ignore[method-assign]
        self.logger = logging.getLogger("bentoml._internal.server.http_app")

    def __enter__(self) -> list:
        self.logger.addHandler(self.handler)
        return self.records

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self.handler)


@pytest.mark.parametrize(
    ("content", "media", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b"null", "application/json", 400),
        (b"\xff\xfe\x00", "application/json", 400),
        (b"", "application/json", 400),
        (b"--x\r\n", "multipart/form-data", 415),
        (b"a=b", "application/x-www-form-urlencoded", 415),
        (b"hello", "text/plain", 415),
    ],
)
def test_malformed_requests_are_4xx_without_tracebacks(client, content, media, status):
    before = _audit_count(client)
    with _Records() as logged:
        r = client.post("/decide", content=content, headers={**ORCH, "content-type": media})
    assert r.status_code == status, r.text
    assert r.json()["error"]
    assert not [rec for rec in logged if rec.exc_info], "a client error logged a traceback"
    assert _audit_count(client) == before


def test_refusals_are_json_with_field_level_problems_and_no_traceback(client):
    body = {**EXAMPLE_DECIDE, "idempotency_key": "refusal-key-0001"}
    with _Records() as logged:
        r = client.post("/decide", json={**body, "features": {"tenure_days": -1.0}}, headers=ORCH)
        missing = client.post("/decide", json={**body, "contract_id": "C-NONE"}, headers=ORCH)
    assert r.status_code == 422
    assert r.json()["problems"][0].startswith("features.tenure_days: ")
    assert missing.status_code == 404 and "C-NONE" in missing.json()["error"]
    assert not [rec for rec in logged if rec.exc_info]


def test_bodies_over_the_limit_are_413_before_parsing(client):
    big = b'{"customers": [' + b" " * 1_100_000 + b"]}"
    headers = {**ORCH, "content-type": "application/json"}
    r = client.post("/score", content=big, headers=headers)
    assert r.status_code == 413 and "limit" in r.json()["error"]

    def chunks():  # no Content-Length: counted while read
        for _ in range(12):
            yield b" " * 100_000

    r = client.post("/events", content=chunks(), headers=headers)
    assert r.status_code == 413
    r = client.post("/decide", json=EXAMPLE_DECIDE, headers=OPER)  # tokens come first
    assert r.status_code == 403


def test_server_errors_keep_their_traceback_in_the_log():
    import logging
    import sys

    from serving.service import ClientErrorFilter

    def record(exc: BaseException) -> logging.LogRecord:
        try:
            raise exc
        except BaseException:
            info = sys.exc_info()
        return logging.LogRecord("x", logging.ERROR, "f", 1, "Exception on /decide", (), info)

    from http import HTTPStatus

    import bentoml

    client_error = record(bentoml.exceptions.BentoMLException("no", error_code=HTTPStatus(404)))
    ClientErrorFilter().filter(client_error)
    assert client_error.exc_info is None and client_error.levelno == logging.WARNING
    crash = record(RuntimeError("boom"))
    ClientErrorFilter().filter(crash)
    assert crash.exc_info is not None and crash.levelno == logging.ERROR


def test_token_entries_may_name_who_holds_them() -> None:
    from serving.auth import parse_tokens

    (a, b) = parse_tokens("t1=reviewer#rita; t2=partner@P01")
    assert (a[1].name, b[1].name, b[1].partner) == ("rita", "partner@P01#2", "P01")
    with pytest.raises(ValueError, match="the name after # must be"):
        parse_tokens("t1=reviewer#rita smith")
