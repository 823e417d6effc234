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

import anyio.to_thread
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


class ClientErrorFilter(logging.Filter):
    """BentoML logs every exception an API raises with its traceback, 4xx included. A client
    error (schema, 404, 409, 422, 413) becomes one warning line without a traceback; a 5xx keeps
    its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        status = _client_status(exc)
        if status is not None:
            text = (record.getMessage(), status, _describe(exc))
            record.msg, record.args = "%s: client error %d: %s", text
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _describe(exc: BaseException) -> str:
    """One line; pydantic errors without the input values (they may hold customer data)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            found = errors(include_input=False, include_url=False, include_context=False)
            return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in found)
        except TypeError:
            pass
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _client_status(exc: BaseException | None) -> int | None:
    """The 4xx status an exception answers with, else None."""
    from pydantic import ValidationError

    if exc is None:
        return None
    if isinstance(exc, ValidationError):
        return 400
    code = getattr(exc, "error_code", None)
    status = int(code) if code is not None else None
    return status if status is not None and 400 <= status < 500 else None


_FILTER = ClientErrorFilter()
logging.getLogger("bentoml._internal.server.http_app").addFilter(_FILTER)


JSON_ROUTES = frozenset({"/score", "/explain", "/decide", "/events"})


class BodyLimitMiddleware:
    """413 for a body over the limit, before anything parses it: a declared Content-Length is
    checked at once; a body without one is read up to the limit, then handed on unchanged.
    The JSON APIs also refuse other media types with 415 (BentoML would try to parse a form
    and answer 500 for a malformed one)."""

    def __init__(self, app, max_bytes: int | None = None) -> None:
        self.app = app
        self._max = max_bytes

    @property
    def max_bytes(self) -> int:
        if self._max is None:
            from loyalty.settings import load_settings

            self._max = load_settings().max_body_bytes
        return self._max

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        limit = self.max_bytes
        headers = dict(scope.get("headers") or [])
        if scope["path"] in JSON_ROUTES:
            media = headers.get(b"content-type", b"application/json").split(b";")[0].strip()
            if media.lower() not in (b"application/json", b""):
                text = f"send the request as application/json, not {media.decode('latin-1')!r}"
                return await _refuse(scope, receive, send, 415, text)
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                return await _refuse(scope, receive, send, 400, "bad Content-Length header")
            if size > limit:
                return await _refuse(scope, receive, send, 413, _limit_text(size, limit))
            return await self.app(scope, receive, send)
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            total += len(chunks[-1])
            if total > limit:
                return await _refuse(scope, receive, send, 413, _limit_text(total, limit))
            if not message.get("more_body"):
                break
        body, sent = b"".join(chunks), False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


def _limit_text(size: int, limit: int) -> str:
    return (
        f"request body of {size:,} bytes is over the limit of {limit:,} bytes "
        "(LOYALTY_MAX_BODY_BYTES): send fewer customers or events per request"
    )


async def _refuse(scope, receive, send, status: int, text: str):
    return await JSONResponse({"error": text}, status_code=status)(scope, receive, send)


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


def _refusal(exc: Exception) -> JSONResponse:
    """A refused request as ``{"error", "problems"}`` with its status (404, 409, 422, 503),
    answered without an exception through BentoML (no traceback in the log); anything else
    is raised: a 500 with its traceback."""
    from guardrails.ledger import LedgerUnavailableError
    from serving.core import ServiceError

    if isinstance(exc, LedgerUnavailableError):
        exc = ServiceError(503, f"ledger unavailable: {exc}")
    if not isinstance(exc, ServiceError):
        raise exc
    if exc.status < 500:
        log.info("refused (%d): %s", exc.status, exc.message)
    else:
        log.warning("unavailable (%d): %s", exc.status, exc.message)
    return JSONResponse({"error": exc.message, "problems": exc.problems}, status_code=exc.status)


def _json_error(exc: Exception) -> JSONResponse:
    return _refusal(exc)  # the same answers as the APIs: a ledger outage is a 503, not a 500


def _principal(ctx_or_request):
    state = getattr(ctx_or_request, "scope", None) or getattr(ctx_or_request.request, "scope", {})
    return (state.get("state") or {}).get("principal")


@bentoml.service(workers=1, traffic={"timeout": 30, "concurrency": 64})
@bentoml.asgi_app(routes, path="/")
class DecisionService:
    """Loads models, policies and stores once per worker; polls for alias moves."""

    def __init__(self) -> None:
        from serving.core import DecisionCore
        from serving.model_set import CannotServeError
        from serving.startup import refuse

        try:
            self.core = DecisionCore()
        except CannotServeError as exc:  # no champion: one line and the server stops
            refuse(exc)
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="model-poller", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.core.settings.model_poll_s):
            try:
                self.core.refresh()
            except Exception:  # never let the poller die: the next round tries again
                log.exception("refresh failed")
            try:
                self.core.sweep_expired()
            except Exception as exc:  # a ledger outage: the next round tries again
                log.warning("expiry sweep failed: %s", exc)

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
            return _refusal(exc)

    @bentoml.api(route="/decide", input_spec=DecideRequest, output_spec=DecideResponse)
    async def decide(self, ctx: bentoml.Context, **req) -> DecideResponse:
        """The decision for one customer under one contract (idempotent by key)."""
        from serving import operations

        who = _principal(ctx)
        body = DecideRequest(**req)
        try:
            # in a worker thread: the durable ledger and audit writes wait for fsync, and the
            # event loop keeps parsing and answering other requests meanwhile
            out = await anyio.to_thread.run_sync(
                operations.decide, self.core, body, who.name if who else None
            )
        except Exception as exc:
            response = _refusal(exc)
            ctx.response.status_code = response.status_code  # BentoML applies the context's
            return response
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

        try:
            return actions.review_list(self.core, None if status == "all" else status)
        except Exception as exc:
            return _json_error(exc)

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


# the first added is the outermost: tokens are checked before a body is even read
DecisionService.add_asgi_middleware(AuthMiddleware)
DecisionService.add_asgi_middleware(BodyLimitMiddleware)
EXAMPLES = {"/score": EXAMPLE_SCORE, "/decide": EXAMPLE_DECIDE, "/events": EXAMPLE_EVENTS}
__all__ = ["EXAMPLES", "DecisionService", "json"]
