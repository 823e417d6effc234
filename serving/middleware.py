"""ASGI middlewares of the decision service, in the order a request meets them: tokens and
scopes (401/403), then the body (413 over the limit, 415 for another media type, a client that
goes away mid-body), and the OpenAPI document completed on its way out.

They answer before any handler runs, so a refused request does no work and writes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse

from serving.auth import AuthError, authorize, load_tokens
from serving.openapi import JSON_ROUTES, complete_spec
from serving.settings import ServiceSettings

if TYPE_CHECKING:
    from serving.auth import Principal

Tokens = list[tuple[bytes, "Principal"]]

log = logging.getLogger("loyalty.serving")

DOCS_PATH = "/docs.json"


class AuthMiddleware:
    """401/403 before the request reaches any handler; the principal rides in the ASGI scope."""

    def __init__(self, app, tokens_loader: Callable[[], Tokens] | None = None) -> None:
        self.app = app
        self._tokens: Tokens | None = None
        self._loader = tokens_loader or _settings_tokens

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        tokens = self._tokens
        if tokens is None:
            tokens = self._tokens = self._loader()
        header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        try:
            principal = authorize(scope["path"], header or None, tokens)
        except AuthError as exc:
            response = JSONResponse({"error": str(exc)}, status_code=exc.status)
            if exc.status == 401:
                response.headers["WWW-Authenticate"] = "Bearer"
            return await response(scope, receive, send)
        scope.setdefault("state", {})["principal"] = principal
        return await self.app(scope, receive, send)


def _settings_tokens():
    s = ServiceSettings()
    return load_tokens(s.tokens.get_secret_value() if s.tokens else None, s.tokens_file)


class BodyLimitMiddleware:
    """Reads the whole body before anything parses it: 413 over the limit (a declared
    Content-Length is checked at once, an undeclared one while reading); the JSON APIs refuse
    other media types with 415 (BentoML would try to parse a form and answer 500 for a
    malformed one). A client that disconnects mid-body gets no answer and costs one info line:
    nothing reaches a handler, so there is no traceback and no 500 in the log."""

    def __init__(self, app, max_bytes: int | None = None) -> None:
        self.app = app
        self._max = max_bytes

    @property
    def max_bytes(self) -> int:
        if self._max is None:
            self._max = ServiceSettings().max_body_bytes
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
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                log.info(
                    "%s %s: the client went away after %d byte(s) of the body; nothing was done",
                    scope.get("method"),
                    scope["path"],
                    total,
                )
                return
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


class DocsMiddleware:
    """Completes BentoML's OpenAPI document (``/docs.json``) with what it cannot know: the
    bearer scheme and each route's scopes, every status a route answers, the package version
    (``serving.openapi.complete_spec``)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != DOCS_PATH or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        start: dict[str, Any] = {}
        parts: list[bytes] = []

        async def collect(message):
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))

        await self.app(scope, receive, collect)
        body = b"".join(parts)
        if start.get("status") == 200:
            body = json.dumps(complete_spec(json.loads(body))).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": start["status"], "headers": headers})
        await send({"type": "http.response.body", "body": body})
