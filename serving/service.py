"""The BentoML decision service: a thin class over DecisionCore.

Every route but the public ones needs a bearer token with the right scope; the check runs in an
ASGI middleware, before any handler does work. Path routes (``/decisions/{id}``, ``/reviews``)
live on a mounted FastAPI app whose views are methods of the same service instance.
"""

from __future__ import annotations

import gc
import json
import logging
import threading
from typing import TYPE_CHECKING, cast

import anyio.to_thread
import bentoml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from features.errors import NotFoundError
from serving import actions, operations
from serving.core import DecisionCore
from serving.environment import apply_defaults
from serving.errors import refusal_body, status_of
from serving.middleware import AuthMiddleware, BodyLimitMiddleware, DocsMiddleware
from serving.model_set import CannotServeError
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
from serving.settings import ServiceSettings
from serving.startup import in_bentoml_worker, refuse

if TYPE_CHECKING:
    from bentoml import Service

apply_defaults()  # before BentoML or MLflow read them

log = logging.getLogger("loyalty.serving")
routes = FastAPI(title="decisions and reviews")


class ClientErrorFilter(logging.Filter):
    """BentoML logs every exception an API raises with its traceback, 4xx included. A client
    error (schema, 404, 409, 422, 413) becomes one warning line without a traceback; a 5xx keeps
    its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        status = _client_status(exc)
        if exc is not None and status is not None:
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
    if exc is None:
        return None
    if isinstance(exc, ValidationError):
        return 400
    status = status_of(exc)
    if status is not None:
        return status if status < 500 else None
    code = getattr(exc, "error_code", None)
    status = int(code) if code is not None else None
    return status if status is not None and 400 <= status < 500 else None


_FILTER = ClientErrorFilter()
logging.getLogger("bentoml._internal.server.http_app").addFilter(_FILTER)


def _refusal(exc: Exception) -> JSONResponse:
    """Every route's one way to answer a refusal: ``{"error", "problems"}`` with the status of
    the exception's type (``serving.errors``), answered without an exception through BentoML
    (no traceback in the log); anything else is raised: a 500 with its traceback."""
    status = status_of(exc)
    if status is None:
        raise exc
    body = refusal_body(exc)
    if status < 500:
        log.info("refused (%d): %s", status, body["error"])
    else:
        log.warning("unavailable (%d): %s", status, body["error"])
    return JSONResponse(body, status_code=status)


def _follow_bentoml_log_level() -> None:
    """BentoML's server logging leaves the root logger at WARNING, so the service's own info
    lines (a refusal, a client gone mid-body, a model swap) vanished; unless configured, the
    ``loyalty`` loggers take BentoML's level (INFO; ERROR with --quiet, DEBUG with --debug) in
    a BentoML worker; an embedding application (or a test) keeps its own configuration."""
    ours = logging.getLogger("loyalty")
    if in_bentoml_worker() and ours.level == logging.NOTSET:
        ours.setLevel(logging.getLogger("bentoml").getEffectiveLevel())


def _principal(ctx_or_request):
    state = getattr(ctx_or_request, "scope", None) or getattr(ctx_or_request.request, "scope", {})
    return (state.get("state") or {}).get("principal")


def settle_heap() -> None:
    """Move what a worker loaded (models, policies, libraries: millions of objects) out of the
    garbage collector's sight: a full collection would otherwise walk all of it, a pause of a
    few hundred milliseconds that requests in flight wait through, and that comes more often
    the more a request allocates."""
    gc.collect()
    gc.freeze()


@bentoml.service(workers=1, traffic={"timeout": 30, "concurrency": 64})
@bentoml.asgi_app(routes, path="/")
class DecisionService:
    """Loads models, policies and stores once per worker; polls for alias moves."""

    def __init__(self) -> None:
        _follow_bentoml_log_level()
        try:
            self.core = DecisionCore(ServiceSettings())  # built once, here, at the edge
        except CannotServeError as exc:  # no champion: one line and the server stops
            refuse(exc)
        settle_heap()
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="model-poller", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.core.settings.model_poll_s):
            try:
                if self.core.refresh():
                    settle_heap()  # the new models join the frozen heap
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
    async def score(self, **req) -> ScoreResponse | JSONResponse:
        """Churn, risk and per-offer propensity for a batch of customers."""
        return self._score(req)

    @bentoml.api(route="/explain", input_spec=ScoreRequest, output_spec=ScoreResponse)
    async def explain(self, **req) -> ScoreResponse | JSONResponse:
        """Scores with reason codes (feature contributions and words)."""
        return self._score({**req, "explain": True})

    def _score(self, req: dict) -> ScoreResponse | JSONResponse:
        try:
            return ScoreResponse(**operations.score(self.core, ScoreRequest(**req)))
        except Exception as exc:
            return _refusal(exc)

    @bentoml.api(route="/decide", input_spec=DecideRequest, output_spec=DecideResponse)
    async def decide(self, ctx: bentoml.Context, **req) -> DecideResponse | JSONResponse:
        """The decision for one customer under one contract (idempotent by key)."""
        who = _principal(ctx)
        body = DecideRequest(**req)
        try:
            # in a worker thread: the durable ledger and audit writes wait for fsync, and the
            # event loop keeps parsing and answering other requests meanwhile
            out = await anyio.to_thread.run_sync(
                operations.decide,
                self.core,
                body,
                who.name if who else None,
                who.scopes if who else None,
            )
        except Exception as exc:
            response = _refusal(exc)
            ctx.response.status_code = response.status_code  # BentoML applies the context's
            return response
        return DecideResponse(**out)

    @bentoml.api(route="/events", input_spec=EventsRequest, output_spec=EventsResponse)
    async def events(self, **req) -> EventsResponse | JSONResponse:
        """Consent changes, sends, declines and redemptions, applied before the next decision."""
        body = EventsRequest(**req)
        try:
            return EventsResponse(
                **actions.intake(self.core, [e.model_dump() for e in body.events])
            )
        except Exception as exc:
            return _refusal(exc)

    @bentoml.api(route="/ready")
    async def ready(self) -> dict:
        """Readiness detail (models and their source, policies, snapshot, ledger)."""
        return self.core.readiness()[1]

    # -- path routes on the mounted app ---------------------------------------------------------
    @routes.get("/decisions/{decision_id}")
    def get_decision(self, decision_id: str, request: Request):
        try:
            return actions.get_decision(self.core, decision_id, _principal(request))
        except Exception as exc:
            return _refusal(exc)

    @routes.post("/decisions/{decision_id}/commit")
    def commit(self, decision_id: str, request: Request):
        try:
            return actions.commit(self.core, decision_id, _principal(request))
        except Exception as exc:
            return _refusal(exc)

    @routes.post("/decisions/{decision_id}/cancel")
    def cancel(self, decision_id: str, request: Request, body: ActionRequest | None = None):
        try:
            reason = body.reason if body else None
            return actions.cancel(self.core, decision_id, reason, _principal(request))
        except Exception as exc:
            return _refusal(exc)

    @routes.get("/reviews")
    def reviews(self, status: str = "pending"):
        try:
            return actions.review_list(self.core, None if status == "all" else status)
        except Exception as exc:
            return _refusal(exc)

    @routes.post("/reviews/{review_id}/{verdict}")
    def resolve(
        self, review_id: str, verdict: str, request: Request, body: ReviewAction | None = None
    ):
        try:
            if verdict not in ("approve", "reject"):
                raise NotFoundError(f"no verdict {verdict!r}: approve or reject")
            body = body or ReviewAction()
            return actions.review_resolve(
                self.core, review_id, verdict == "approve", _principal(request), body
            )
        except Exception as exc:
            return _refusal(exc)


# the first added is the outermost: tokens are checked before a body is even read
# (@bentoml.service made the class a Service; mypy does not apply class decorators)
_service = cast("Service[DecisionService]", DecisionService)
for _middleware in (AuthMiddleware, BodyLimitMiddleware, DocsMiddleware):
    _service.add_asgi_middleware(_middleware)
EXAMPLES = {"/score": EXAMPLE_SCORE, "/decide": EXAMPLE_DECIDE, "/events": EXAMPLE_EVENTS}
__all__ = ["EXAMPLES", "DecisionService", "json"]
