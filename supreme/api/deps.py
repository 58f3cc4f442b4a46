"""FastAPI dependencies over :class:`AuthService` and the rate limiters (thin: parse, call, map errors).

Wiring, once per app::

    gateway = AuthGateway(service, key_limiter=..., ip_limiter=...)
    install(app, gateway)                       # app.state + JSON error handler
    app.include_router(auth_router())            # POST/DELETE /api/v1/auth/session, POST .../refresh

    @app.post("/api/v1/trading/signal")
    async def signal(p: Principal = Depends(require_auth("signal:read")),
                     _: object = Depends(rate_limit)): ...

Errors leave as :class:`ApiHTTPException` whose JSON body (with the handler :func:`install` adds) is
``{"error": code, "message": ...}``: 401/403/503 from :mod:`supreme.api.auth.errors`, 429 with
``Retry-After`` from the limiters.  A session refreshed on the way returns its new token in the
``X-Session-Token`` response header.

Request ids: every step these dependencies cause (limiter checks, authentication, sessions) is logged
under the gateway's request id when the gateway set one -- ``request.state.request_id``, else the
ASGI scope's ``"supreme.request_id"`` (what :mod:`supreme.api.app` sets) -- and under a fresh id only
for an app without such a gateway, so one request can be followed through the event log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from supreme.api.auth.errors import AuthError, MissingCredentials
from supreme.api.auth.service import AuthService, Principal
from supreme.api.ratelimit import RateLimiter, RateLimitResult, rate_limit_headers
from supreme.events import new_request_id

__all__ = [
    "SESSION_HEADER", "ApiHTTPException", "AuthGateway", "admit", "auth_http_exception", "auth_router",
    "authenticate", "get_gateway", "install", "path_with_query", "rate_limit", "require_auth", "session_body",
]

SESSION_HEADER = "X-Session-Token"
_STATE_ATTR = "supreme_auth"


@dataclass
class AuthGateway:
    """What the dependencies need: the auth service and optional per-key / per-address limiters."""

    service: AuthService
    key_limiter: RateLimiter | None = None
    ip_limiter: RateLimiter | None = None


class ApiHTTPException(HTTPException):
    """An HTTPException whose ``detail`` is the JSON body ``{"error": ..., "message": ...}``."""


def auth_http_exception(exc: AuthError) -> ApiHTTPException:
    """Map an :class:`AuthError` to its HTTP status and JSON body."""
    headers = {"WWW-Authenticate": 'Signature realm="supreme", Bearer'} if exc.status == 401 else None
    return ApiHTTPException(status_code=exc.status, detail=exc.to_dict(), headers=headers)


def _rate_limited(result: RateLimitResult, what: str) -> ApiHTTPException:
    return ApiHTTPException(status_code=429, headers=rate_limit_headers(result), detail={
        "error": "rate_limited",
        "message": f"rate limit exceeded for {what}; retry in {result.retry_after:.3f} s",
    })


async def _api_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiHTTPException)
    return JSONResponse(status_code=exc.status_code, content=exc.detail, headers=exc.headers)


def install(app: FastAPI, gateway: AuthGateway) -> None:
    """Attach ``gateway`` to ``app`` and render :class:`ApiHTTPException` bodies as bare JSON."""
    setattr(app.state, _STATE_ATTR, gateway)
    app.add_exception_handler(ApiHTTPException, _api_error_handler)


def get_gateway(request: Request) -> AuthGateway:
    """The :class:`AuthGateway` installed on the app (500 with a clear message if none)."""
    gateway = getattr(request.app.state, _STATE_ATTR, None)
    if gateway is None:
        raise ApiHTTPException(status_code=500, detail={
            "error": "auth_not_configured",
            "message": "supreme.api.deps.install(app, gateway) was not called"})
    assert isinstance(gateway, AuthGateway)
    return gateway


def path_with_query(scope: MutableMapping[str, Any]) -> str:
    """The request target as sent: raw path plus ``?query`` (the signed form)."""
    raw = scope.get("raw_path") or scope.get("path", "/").encode()
    query = scope.get("query_string") or b""
    target = bytes(raw) + (b"?" + bytes(query) if query else b"")
    return target.decode("latin-1")


def _client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _request_id(request: Request) -> str:
    """The gateway's id for this request, else a fresh one (kept on ``request.state`` for later steps)."""
    rid = getattr(request.state, "request_id", None) or request.scope.get("supreme.request_id")
    if not rid:
        rid = new_request_id()
        request.state.request_id = rid  # the limiter, auth and the route then share one id
    return str(rid)


async def rate_limit(request: Request, response: Response) -> RateLimitResult | None:
    """Per-client-address limit (before authentication); 429 with ``Retry-After`` when exceeded."""
    gateway = get_gateway(request)
    if gateway.ip_limiter is None:
        return None
    result = gateway.ip_limiter.check(f"ip:{_client_address(request)}", request_id=_request_id(request))
    if not result.allowed:
        raise _rate_limited(result, f"address {_client_address(request)}")
    if "ratelimit-limit" not in response.headers:  # the per-key figures, when present, matter more
        response.headers.update(rate_limit_headers(result))
    return result


def _scopes(scopes: str | Iterable[str]) -> tuple[str, ...]:
    if isinstance(scopes, str):
        return tuple(s.strip() for s in scopes.split(",") if s.strip())
    return tuple(scopes)


def require_auth(scopes: str | Iterable[str] = ()) -> Callable[[Request, Response], Awaitable[Principal]]:
    """A dependency: authenticate (signature or bearer session), apply the per-key limit, check scopes."""
    required = _scopes(scopes)

    async def dependency(request: Request, response: Response) -> Principal:
        gateway = get_gateway(request)
        rid = _request_id(request)
        body = await request.body()
        try:
            principal = await authenticate(gateway.service, request, body, required, rid)
        except AuthError as exc:
            raise auth_http_exception(exc) from exc
        return admit(principal, response, gateway.key_limiter, rid, _rate_limited)

    return dependency


async def authenticate(service: AuthService, request: Request, body: bytes, scopes: Iterable[str],
                       rid: str) -> Principal:
    """``service.authenticate`` on the request as signed, in a worker thread (the stores block)."""
    return await run_in_threadpool(service.authenticate, request.headers, request.method,
                                   path_with_query(request.scope), body, tuple(scopes), rid)


def admit(principal: Principal, response: Response, key_limiter: RateLimiter | None, rid: str,
          refuse: Callable[[RateLimitResult, str], Exception]) -> Principal:
    """After authentication: hand back a refreshed session's token, then apply the per-key limit.

    ``refuse(result, what)`` is the 429 the caller raises (each app renders its own error body).
    """
    if principal.new_session is not None:
        response.headers[SESSION_HEADER] = principal.new_session.token
    if key_limiter is not None:
        result = key_limiter.check(f"key:{principal.key_id}", request_id=rid)
        if not result.allowed:
            raise refuse(result, f"API key {principal.key_id}")
        response.headers.update(rate_limit_headers(result))
    return principal


def session_body(issued: Any) -> dict[str, Any]:
    """The JSON body that answers a login or refresh: token, key, scopes and expiry times."""
    info = issued.info
    return {"token": issued.token, "key_id": info.key_id, "scopes": sorted(info.scopes),
            "expires_at": info.expires_at, "refresh_until": info.refresh_until}


def _bearer(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() != "bearer ":
        raise auth_http_exception(MissingCredentials("send 'Authorization: Bearer <session token>'"))
    return auth[7:].strip()


def auth_router(prefix: str = "/api/v1/auth") -> APIRouter:
    """Login (signed ``POST {prefix}/session``), refresh (``POST {prefix}/refresh``), logout (``DELETE``)."""
    router = APIRouter(prefix=prefix)

    @router.post("/session", dependencies=[Depends(rate_limit)])
    async def login(request: Request) -> dict[str, Any]:
        gateway = get_gateway(request)
        body = await request.body()
        try:
            issued = await run_in_threadpool(gateway.service.login, request.headers, request.method,
                                             path_with_query(request.scope), body, _request_id(request))
        except AuthError as exc:
            raise auth_http_exception(exc) from exc
        return session_body(issued)

    @router.post("/refresh", dependencies=[Depends(rate_limit)])
    async def refresh(request: Request) -> dict[str, Any]:
        gateway = get_gateway(request)
        try:
            issued = await run_in_threadpool(gateway.service.refresh, _bearer(request), _request_id(request))
        except AuthError as exc:
            raise auth_http_exception(exc) from exc
        return session_body(issued)

    @router.delete("/session")
    async def logout(request: Request) -> dict[str, Any]:
        gateway = get_gateway(request)
        try:
            ended = await run_in_threadpool(gateway.service.logout, _bearer(request))
        except AuthError as exc:
            raise auth_http_exception(exc) from exc
        return {"ended": ended}

    return router
