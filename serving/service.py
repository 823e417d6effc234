"""The BentoML decision service: a thin class over DecisionCore.

Every route but the public ones needs a bearer token with the right scope; the check runs in an
ASGI middleware, before any handler does work. Path routes (``/decisions/{id}``, ``/reviews``)
live on a mounted FastAPI app whose views are methods of the same service instance.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from http import HTTPStatus

import bentoml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from serving.schemas import (
    EXAMPLE_DECIDE,
    EXAMPLE_EVENTS,
    EXAMPLE_SCORE,
    ActionRequest,
    DecideRequest,
    DecideResponse,
    EventsRequest,
    EventsResponse,
    ReviewAction,
    ScoreRequest,
    ScoreResponse,
)

for _name, _value in (("MLFLOW_DISABLE_TELEMETRY", "true"), ("BENTOML_DO_NOT_TRACK", "True")):
    os.environ.setdefault(_name, _value)  # environment defaults only: no files, no network

log = logging.getLogger("loyalty.serving")
routes = FastAPI(title="decisions and reviews")


class AuthMiddleware:
    """401/403 before the request reaches any handler; the principal rides in the ASGI scope."""

    def __init__(self, app, tokens_loader=None) -> None:
        self.app = app
        self._tokens = None
        self._loader = tokens_loader or _settings_tokens

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from serving.auth import AuthError, authorize

        if self._tokens is None:
            self._tokens = self._loader()
        header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        try:
            principal = authorize(scope["path"], header or None, self._tokens)
        except AuthError as exc:
            response = JSONResponse({"error": str(exc)}, status_code=exc.status)
            if exc.status == 401:
                response.headers["WWW-Authenticate"] = "Bearer"
            return await response(scope, receive, send)
        scope.setdefault("state", {})["principal"] = principal
        return await self.app(scope, receive, send)


def _settings_tokens():
    from loyalty.settings import load_settings
    from serving.auth import load_tokens

    s = load_settings()
    return load_tokens(s.tokens.get_secret_value() if s.tokens else None, s.tokens_file)


def _fail(exc: Exception):
    """ServiceError -> a BentoML error with its status; anything else propagates."""
    from serving.core import ServiceError

    if isinstance(exc, ServiceError):
        detail = exc.message + (": " + "; ".join(exc.problems) if exc.problems else "")
        return bentoml.exceptions.BentoMLException(detail, error_code=HTTPStatus(exc.status))
    return exc


def _json_error(exc: Exception) -> JSONResponse:
    from serving.core import ServiceError

    if not isinstance(exc, ServiceError):
        raise exc
    return JSONResponse({"error": exc.message, "problems": exc.problems}, status_code=exc.status)


def _principal(ctx_or_request):
    state = getattr(ctx_or_request, "scope", None) or getattr(ctx_or_request.request, "scope", {})
    return (state.get("state") or {}).get("principal")


@bentoml.service(workers=1, traffic={"timeout": 30, "concurrency": 64})
@bentoml.asgi_app(routes, path="/")
class DecisionService:
    """Loads models, policies and stores once per worker; polls for alias moves."""

    def __init__(self) -> None:
        from serving.core import DecisionCore

        self.core = DecisionCore()
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="model-poller", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.core.settings.model_poll_s):
            try:
                self.core.refresh()
            except Exception:  # never let the poller die: the next round tries again
                log.exception("refresh failed")

    def __is_ready__(self) -> bool:
        """/readyz: models loaded (from the registry or the last known good) and ledger up."""
        return self.core.readiness()[0]

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        self._stop.set()
        self.core.close()

    @bentoml.api(route="/score", input_spec=ScoreRequest, output_spec=ScoreResponse)
    async def score(self, **req) -> ScoreResponse:
        """Churn, risk and per-offer propensity for a batch of customers."""
        return self._score(req)

    @bentoml.api(route="/explain", input_spec=ScoreRequest, output_spec=ScoreResponse)
    async def explain(self, **req) -> ScoreResponse:
        """Scores with reason codes (feature contributions and words)."""
        return self._score({**req, "explain": True})

    def _score(self, req: dict) -> ScoreResponse:
        from serving import operations

        try:
            return ScoreResponse(**operations.score(self.core, ScoreRequest(**req)))
        except Exception as exc:
            raise _fail(exc) from exc

    @bentoml.api(route="/decide", input_spec=DecideRequest, output_spec=DecideResponse)
    async def decide(self, ctx: bentoml.Context, **req) -> DecideResponse:
        """The decision for one customer under one contract (idempotent by key)."""
        from serving import operations

        who = _principal(ctx)
        try:
            out = operations.decide(self.core, DecideRequest(**req), who.name if who else None)
        except Exception as exc:
            raise _fail(exc) from exc
        return DecideResponse(**out)

    @bentoml.api(route="/events", input_spec=EventsRequest, output_spec=EventsResponse)
    async def events(self, **req) -> EventsResponse:
        """Consent changes, sends, declines and redemptions, applied before the next decision."""
        from serving import actions

        body = EventsRequest(**req)
        return EventsResponse(**actions.intake(self.core, [e.model_dump() for e in body.events]))

    @bentoml.api(route="/ready")
    async def ready(self) -> dict:
        """Readiness detail (models and their source, policies, snapshot, ledger)."""
        return self.core.readiness()[1]

    # -- path routes on the mounted app ---------------------------------------------------------
    @routes.get("/decisions/{decision_id}")
    def get_decision(self, decision_id: str, request: Request):
        from serving import actions

        try:
            return actions.get_decision(self.core, decision_id, _principal(request))
        except Exception as exc:
            return _json_error(exc)

    @routes.post("/decisions/{decision_id}/commit")
    def commit(self, decision_id: str, request: Request):
        from serving import actions

        try:
            return actions.commit(self.core, decision_id, _principal(request))
        except Exception as exc:
            return _json_error(exc)

    @routes.post("/decisions/{decision_id}/cancel")
    def cancel(self, decision_id: str, request: Request, body: ActionRequest | None = None):
        from serving import actions

        try:
            reason = body.reason if body else None
            return actions.cancel(self.core, decision_id, reason, _principal(request))
        except Exception as exc:
            return _json_error(exc)

    @routes.get("/reviews")
    def reviews(self, status: str = "pending"):
        from serving import actions

        return actions.review_list(self.core, None if status == "all" else status)

    @routes.post("/reviews/{review_id}/{verdict}")
    def resolve(self, review_id: str, verdict: str, body: ReviewAction):
        from serving import actions

        if verdict not in ("approve", "reject"):
            return JSONResponse({"error": "verdict must be approve or reject"}, status_code=404)
        try:
            return actions.review_resolve(
                self.core, review_id, verdict == "approve", body.by, body.note
            )
        except Exception as exc:
            return _json_error(exc)


DecisionService.add_asgi_middleware(AuthMiddleware)
EXAMPLES = {"/score": EXAMPLE_SCORE, "/decide": EXAMPLE_DECIDE, "/events": EXAMPLE_EVENTS}
__all__ = ["EXAMPLES", "DecisionService", "json"]
