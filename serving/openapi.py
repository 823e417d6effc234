"""The service's OpenAPI document, completed: BentoML writes the paths and schemas, this adds
what only the service knows, so Swagger's Authorize button works and a client can read every
answer a route may give.

* a bearer scheme (HTTP bearer), required by default, lifted on the public routes; each route
  names the scopes its token needs (``x-required-scopes``, and in words in its description);
* per route, exactly the statuses it answers: the middlewares' (400, 401, 403, 413, 415) and
  the route's own refusals (404, 409, 422, 503, as ``serving.errors`` maps them), besides 200
  (and the 500 BentoML declares for its APIs);
* ``info.version``: the installed package's version.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from serving.auth import required_scopes

SCHEME = "bearer"
PACKAGE = "loyalty-decisioning"
REFUSAL = "Refusal"
METHODS = ("get", "post", "put", "patch", "delete")
# The BentoML APIs that take a JSON body (BodyLimitMiddleware refuses other media types).
JSON_ROUTES = frozenset({"/score", "/explain", "/decide", "/events"})

# The refusals each route's own work can end in (the table in serving.errors gives the status).
ROUTE_STATUSES: dict[str, tuple[int, ...]] = {
    "/score": (404, 422, 503),
    "/explain": (404, 422, 503),
    "/decide": (404, 409, 422, 503),
    "/events": (422, 503),
    "/decisions/{decision_id}": (404, 503),
    "/decisions/{decision_id}/commit": (404, 409, 503),
    "/decisions/{decision_id}/cancel": (404, 409, 422, 503),
    "/reviews": (503,),
    "/reviews/{review_id}/{verdict}": (404, 409, 422, 503),
}
# Schema errors that BentoML (400) or FastAPI (422, on the path routes' bodies) answer in their
# own shape: their declaration is kept where the framework made one.
FRAMEWORK_STATUSES = frozenset({"400", "422"})

STATUS_TEXT = {
    400: "Malformed request: not JSON, a field of the wrong type or name, a bad Content-Length.",
    401: "No bearer token, or an unknown one (Authorization: Bearer <token>).",
    403: "The token lacks the scope this route needs.",
    404: "What the request names does not exist: contract, customer, decision, review.",
    409: "Clashes with the current state: an idempotency key reused with another payload, a "
    "decision or review settled already (e.g. approved while being cancelled).",
    413: "The body is over the size limit (LOYALTY_MAX_BODY_BYTES).",
    415: "The body is not application/json.",
    422: "Well-formed but breaks a rule; `problems` names each field: features against the "
    "feature contract, a time outside 1900-01-01..2200-01-01 UTC, an event without an "
    "attribute its type needs.",
    503: "A store the request needs (ledger, online features, event state) cannot answer now; "
    "the same request may work later.",
}

_REFUSAL_SCHEMA = {
    "type": "object",
    "title": REFUSAL,
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "What was refused and why."},
        "problems": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Field-level problems, each naming the field.",
        },
    },
}


def package_version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def complete_spec(doc: dict[str, Any], version: str | None = None) -> dict[str, Any]:
    """The document with the security scheme, scopes, statuses and version filled in."""
    doc.setdefault("info", {})["version"] = version or package_version()
    components = doc.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from LOYALTY_TOKENS; its scopes (orchestrator, reviewer, "
        "operator, partner) decide which routes it may call.",
    }
    components.setdefault("schemas", {})[REFUSAL] = _REFUSAL_SCHEMA
    doc["security"] = [{SCHEME: []}]
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                _complete_operation(path, method, item[method])
    return doc


def statuses_of(path: str, method: str) -> tuple[int, ...]:
    """Every status but 200 a route answers (500 aside): middlewares' first, then its own."""
    out: set[int] = set(ROUTE_STATUSES.get(path, ()))
    if required_scopes(path) is not None:
        out |= {401, 403}
    if method != "get":
        out |= {400, 413}
    if path in JSON_ROUTES:
        out.add(415)
    return tuple(sorted(out))


def _complete_operation(path: str, method: str, op: dict[str, Any]) -> None:
    scopes = required_scopes(path)
    if scopes is None:
        op["security"] = []
    else:
        op["security"] = [{SCHEME: []}]
        op["x-required-scopes"] = sorted(scopes)
        needs = f"Needs a bearer token with scope {' or '.join(sorted(scopes))}."
        op["description"] = f"{needs}\n\n{op.get('description') or ''}".strip()
    given = op.get("responses", {})
    responses = {k: v for k, v in given.items() if k in ("200", "500")}
    schema = {"$ref": f"#/components/schemas/{REFUSAL}"}
    for status in map(str, statuses_of(path, method)):
        if status in FRAMEWORK_STATUSES and status in given:
            responses[status] = given[status]
            continue
        content = {"application/json": {"schema": schema}}
        responses[status] = {"description": STATUS_TEXT[int(status)], "content": content}
    op["responses"] = responses  # exactly what the route answers: no framework boilerplate
