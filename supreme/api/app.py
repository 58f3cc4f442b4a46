"""The FastAPI gateway (API_Gateway): ``create_app(services)``.

Layers, outermost first::

    GatewayMiddleware   request id (X-Request-ID), body limit (413), total latency on the service clock,
                        Metrics_Collector (prometheus + event log), API_Gateway "request" row
    exception handlers  every refusal is JSON {"error": code, "message": ..., "request_id": ...}
    routes              supreme.api.routes (the signal route is supreme.api.pipeline.SignalPipeline)

Error mapping (never a 5xx for bad input):

=====================================  ======  ==========================
cause                                  status  ``error``
=====================================  ======  ==========================
body is not JSON                       400     malformed_json
body over ``max_body_bytes``           413     body_too_large
field invalid / extra field            422     validation_error
unknown symbol / timeframe             422     unknown_symbol / unknown_timeframe
too little history as of market time   422     insufficient_data
credentials (see supreme.api.auth)     401     missing_credentials, bad_signature, …
scope                                  403     insufficient_scope
rate limit                             429     rate_limited (Retry-After)
key / session store unreachable        503     auth_unavailable (Retry-After)
exchange unreachable                   503     exchange_unavailable (Retry-After)
a cache tier unreachable               —       (degraded: answered from the other tiers)
=====================================  ======  ==========================

Every request leaves one ``API_Gateway``/``request`` row (flow ``request_pipeline``) whose
``latency`` is the total time in the gateway and whose ``key`` is ``"METHOD /route/template"``:
this is what :mod:`supreme.api.sla` judges.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from supreme.api.auth import AuthError
from supreme.api.operations import operations_router
from supreme.api.pipeline import ApiError, record_request, refusal_status
from supreme.api.routes import build_router, request_id_of
from supreme.api.services import Services
from supreme.errors import SupremeError
from supreme.events import new_request_id

__all__ = ["GatewayMiddleware", "create_app"]

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _json_bytes(status: int, code: str, message: str, rid: str) -> bytes:
    return json.dumps({"error": code, "message": message, "request_id": rid}).encode()


class GatewayMiddleware:
    """Pure ASGI: request id, body limit, total latency, metrics, the API_Gateway event row."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.svc = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        svc = self.svc
        clock = svc.clock
        rid = new_request_id()
        scope["supreme.request_id"] = rid
        method = scope.get("method", "GET")
        t0 = clock.now()
        status = 500
        rid_header = (b"x-request-id", rid.encode())

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        try:
            if method in _BODY_METHODS:
                body = await self._read_body(scope, receive)
                if body is None:
                    await self._too_large(send_wrapper, rid)
                    return
                receive = _replay(body, receive)
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            endpoint = f"{method} {getattr(route, 'path', 'unmatched')}"
            record_request(svc.event_log, clock, svc.metrics, rid, endpoint, status, clock.now() - t0)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The whole body, or None once it exceeds the limit (checked on Content-Length first)."""
        limit = self.svc.max_body_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    if int(value) > limit:
                        return None
                except ValueError:
                    pass  # a bad Content-Length is the server's (h11's) business; count the bytes
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _too_large(self, send: Send, rid: str) -> None:
        body = _json_bytes(413, "body_too_large",
                           f"request body exceeds the limit of {self.svc.max_body_bytes} bytes", rid)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


# -- exception handlers -------------------------------------------------------------------------------------
def _error(request: Request, status: int, code: str, message: str, headers: Mapping[str, str] | None = None,
           details: list[dict[str, Any]] | None = None) -> JSONResponse:
    content: dict[str, Any] = {"error": code, "message": message, "request_id": request_id_of(request)}
    if status == 503 and not (headers and "Retry-After" in headers):
        headers = {**(headers or {}), "Retry-After": str(_retry_after(request))}
    if details is not None:
        content["details"] = details
    return JSONResponse(status_code=status, content=content, headers=headers)


def _retry_after(request: Request) -> int:
    """Whole seconds until a 503's cause may be gone: the longest wait of an open breaker, else 1."""
    svc = getattr(request.app.state, "services", None)
    waits = [b.retry_after() for b in getattr(svc, "breakers", {}).values()]
    return max(1, math.ceil(max(waits, default=0.0)))


def _clean(err: dict[str, Any]) -> dict[str, Any]:
    # the offending input may be bytes or huge: report where and why, not the value
    return {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", "")),
            "type": str(err.get("type", ""))}


async def _validation_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errs = [_clean(e) for e in exc.errors()]
    if any(e["type"] == "json_invalid" for e in errs):
        return _error(request, 400, "malformed_json", "request body is not valid JSON", details=errs)
    where = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errs[:5])
    return _error(request, 422, "validation_error", f"invalid request: {where}", details=errs)


async def _http_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail
    if isinstance(detail, dict) and "error" in detail:  # supreme.api.deps.ApiHTTPException
        return _error(request, exc.status_code, str(detail["error"]), str(detail.get("message", "")),
                      headers=exc.headers)
    codes = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}
    return _error(request, exc.status_code, codes.get(exc.status_code, f"http_{exc.status_code}"),
                  str(detail), headers=exc.headers)


async def _supreme_handler(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, ApiError):
        return _error(request, exc.status, exc.code, str(exc), headers=exc.headers)
    if isinstance(exc, AuthError):
        headers = {"WWW-Authenticate": 'Signature realm="supreme", Bearer'} if exc.status == 401 else None
        return _error(request, exc.status, exc.code, str(exc), headers=headers)
    refusal = refusal_status(exc)
    if refusal is not None:
        return _error(request, refusal[0], refusal[1], str(exc))
    log.exception("unhandled %s in %s", type(exc).__name__, request.url.path, exc_info=exc)
    return _error(request, 500, "internal_error", f"{type(exc).__name__}: {exc}")


async def _unexpected_handler(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected %s in %s", type(exc).__name__, request.url.path, exc_info=exc)
    return _error(request, 500, "internal_error", "internal error; see the server log for the request id")


def create_app(services: Services, *, close_on_shutdown: bool = False, title: str = "Supreme signal API",
               on_shutdown: Callable[[], None] | None = None, stream: bool = True) -> FastAPI:
    """The API over ``services``; when the ASGI lifespan ends run ``on_shutdown``, then (with
    ``close_on_shutdown``) close the services.  With ``stream`` the WebSocket market-data stream
    (``/api/v1/stream``) is mounted; its gateway is ``app.state.stream_gateway``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.engine.warm_up()  # compiled kernels load before the first request, not during it
        if services.resilience is not None:
            services.resilience.start()
        try:
            yield
        finally:
            try:
                if services.resilience is not None:
                    await services.resilience.stop()
                if on_shutdown is not None:
                    on_shutdown()
            finally:
                if close_on_shutdown:
                    services.close()

    app = FastAPI(
        title=title, version="1.0.0", lifespan=lifespan,
        description=(
            "Trading signals from replayed market data through a three-tier cache. Authenticate with "
            "an exchange-style signature (X-API-Key, X-Timestamp, X-Signature, X-Nonce) or a session "
            "bearer token. Every error is JSON {\"error\": code, \"message\": text}."),
    )
    app.state.services = services
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(SupremeError, _supreme_handler)
    app.add_exception_handler(Exception, _unexpected_handler)
    app.include_router(build_router(services))
    app.include_router(operations_router(services))
    if stream:
        from supreme.api.streaming import StreamGateway, stream_router

        gateway = StreamGateway.from_services(services)
        app.state.stream_gateway = gateway
        app.include_router(stream_router(gateway))  # its lifespan starts/stops the stream tasks
    app.add_middleware(GatewayMiddleware, services=services)
    return app
