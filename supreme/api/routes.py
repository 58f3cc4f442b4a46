"""The signal API's routes: the trading-signal pipeline, sessions, health, readiness, metrics, symbols.

``POST /api/v1/trading/signal`` is :class:`supreme.api.pipeline.SignalPipeline` (the seed's "Complete
Trading Signal Flow", the same object the SimPy models drive)::

    Rate_Limiter (per address)  ─ over ─▶ 429
    Auth_Service (signature or session; scope signal:read; then the per-key limit)  ─ ▶ 401/403/429
    Cache_Manager: signal cache, key signal:{rules}:{symbol}:{timeframe}:{newest closed candle}
      hit  ─▶ Response_Formatter
      miss ─▶ Strategy_Engine ─▶ Market_Data_Feed ─▶ Cache_Manager (market data) ─▶ Exchange_Connector
             ─▶ Cache_Manager: store the signal ─▶ Response_Formatter
    Metrics_Collector (the signal cache counter here; the request row in the gateway middleware)

The route's dependency runs the pipeline's admission (steps 1-3) and its handler the answer: FastAPI
validates the body between the two, as it did when these were separate dependencies.

Hot path (:func:`signal_route_class`): a request whose JSON body validates and whose admission needs no
I/O (in-memory limiters; a cached session, or a signature by a cached key with an in-process nonce
store) is admitted and answered in front of FastAPI's handler, on the event loop when L1 holds the
signal; everything else takes the dependency and handler above, with one worker-thread hop for each
step that would block.  The response is the formatter's body as orjson bytes (the body already has the
``SignalResponse`` shape; ``tests/api/test_hot_path.py`` checks it field by field).

Because the key names the newest closed candle, a cached signal is never stale: once another candle
closes on the market clock the key changes.  (If a candle closes while a signal is being computed, the
signal is newer than its key's candle: newer, never older.)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from supreme.api.auth import MissingCredentials, Principal
from supreme.api.deps import SESSION_HEADER, path_with_query, session_body
from supreme.api.pipeline import FLOW, SIGNAL_SCOPE, Admission, ApiError, SignalCall, SignalPipeline, limited
from supreme.api.ratelimit import rate_limit_headers
from supreme.api.schemas import (
    HealthResponse,
    LogoutResponse,
    MarketResponse,
    ReadyResponse,
    SessionResponse,
    SignalRequest,
    SignalResponse,
    SymbolsResponse,
    TierStatus,
    errors,
)
from supreme.api.services import Services

__all__ = ["FLOW", "SIGNAL_SCOPE", "ApiError", "build_router", "request_id_of"]

# Documented in OpenAPI; the values are read by Auth_Service from the raw headers.
_api_key_doc = APIKeyHeader(name="X-API-Key", auto_error=False,
                            description="key id; also send X-Timestamp, X-Signature (and X-Nonce)")
_bearer_doc = HTTPBearer(auto_error=False, description="session token from POST /api/v1/auth/session")


# The signal route's credentials, documented as security schemes (the dependencies below that would
# document them cost a resolution each per request; login and refresh declare the same schemes).
_SIGNAL_SECURITY: list[dict[str, Any]] = [{"APIKeyHeader": []}, {"HTTPBearer": []}]


def request_id_of(request: Request) -> str:
    """The gateway's request id for ``request``."""
    return str(request.scope.get("supreme.request_id") or "")


def services_of(request: Request) -> Services:
    """The :class:`Services` of the app serving ``request``."""
    svc: Services = request.app.state.services
    return svc


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


# -- the per-address limit of the routes outside the signal pipeline -----------------------------------
async def rate_limited(request: Request) -> None:
    """Per-address GCRA check (before authentication)."""
    svc = services_of(request)
    if svc.ip_limiter is None:
        return
    address = _address(request)
    # the limiter logs its own Rate_Limiter step under this request's id
    result = svc.ip_limiter.check(f"ip:{address}", request_id=request_id_of(request))
    if not result.allowed:
        raise limited(result, f"address {address}")


# -- the signal pipeline's admission (steps 1-3) -------------------------------------------------------
def admitted(pipeline: SignalPipeline) -> Any:
    """A dependency: :meth:`SignalPipeline.admit` on the request as sent, in a worker thread when the
    limiters or the stores would block (else inline: :meth:`SignalPipeline.admit_local`); a refreshed
    session's token and the per-key limit go in headers."""

    async def dependency(request: Request, response: Response) -> Principal:
        call = _signal_call(request, await request.body())
        admission = pipeline.admit_local(call)  # all in memory: no thread hop (~0.3 ms each)
        if admission is None:
            admission = await run_in_threadpool(pipeline.admit, call)
        response.headers.update(_admission_headers(admission))
        return admission.principal

    return dependency


def _signal_call(request: Request, body: bytes) -> SignalCall:
    # the headers as one lower-case dict, built once (the last of repeated names, as Auth_Service reads)
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.scope["headers"]}
    return SignalCall(request_id_of(request), _address(request), headers, request.method,
                      path_with_query(request.scope), body)


def _admission_headers(admission: Admission) -> dict[str, str]:
    """A refreshed session's token and the per-key limit's figures, for the response."""
    out = rate_limit_headers(admission.key_limit) if admission.key_limit is not None else {}
    if admission.principal.new_session is not None:
        out[SESSION_HEADER] = admission.principal.new_session.token
    return out


def signal_route_class(pipeline: SignalPipeline) -> type[APIRoute]:
    """The signal route with a hot path in front of FastAPI's handler: a JSON body that validates and an
    admission memory can decide (:meth:`SignalPipeline.admit_local`) are answered here, without
    FastAPI's dependency resolution (and, on an L1 hit, without a thread hop).  Anything else -- another
    content type, a body FastAPI would refuse, credentials that need a store -- goes to the standard
    handler untouched (nothing was done yet), so every refusal stays the one FastAPI and the
    dependency give."""

    class SignalRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            standard = super().get_route_handler()

            async def handler(request: Request) -> Response:
                if request.headers.get("content-type") == "application/json":
                    body = await request.body()
                    try:  # as FastAPI parses a JSON body, then validates the field
                        req = SignalRequest.model_validate(json.loads(body))
                    except (ValueError, ValidationError):
                        return await standard(request)
                    call = _signal_call(request, body)
                    admission = pipeline.admit_local(call)  # a refusal raises, as from the dependency
                    if admission is not None:
                        answer = pipeline.answer_local(call.request_id, req.symbol, req.timeframe)
                        if answer is None:
                            answer = await run_in_threadpool(pipeline.answer, call.request_id, req.symbol,
                                                             req.timeframe)
                        return _json(answer, _admission_headers(admission))
                return await standard(request)

            return handler

    return SignalRoute


# -- readiness ------------------------------------------------------------------------------------------
def probe(svc: Services) -> ReadyResponse:
    """Check every dependency directly (not through the breakers) and summarise."""
    deps: list[TierStatus] = [TierStatus(name="L1", status="ok")]
    status: Literal["ok", "degraded", "unavailable"]
    overall: Literal["ready", "degraded", "unavailable"]
    pending = svc.cache.pending()
    for tier in svc.remote_tiers:
        try:
            tier.peek("__ready_probe__")
            status, detail = "ok", None
        except Exception as exc:  # any failure of the probe means "not usable now"
            status, detail = "unavailable", f"{type(exc).__name__}: {exc}"
        n = pending.get(tier.name, 0)
        if status == "ok" and n:
            status, detail = "degraded", f"{n} journaled writes not yet replayed"
        deps.append(TierStatus(name=tier.name, status=status, detail=detail, pending_writes=n))
    for name, check in (("key_store", lambda: svc.auth.store.db.execute("SELECT 1")),
                        ("session_store", lambda: svc.auth.sessions.client.ping())):
        try:
            check()
            deps.append(TierStatus(name=name, status="ok"))
        except Exception as exc:
            deps.append(TierStatus(name=name, status="unavailable", detail=f"{type(exc).__name__}: {exc}"))
    critical = {"key_store", "session_store"}
    if any(d.status == "unavailable" and d.name in critical for d in deps):
        overall = "unavailable"
    elif any(d.status != "ok" for d in deps):
        overall = "degraded"
    else:
        overall = "ready"
    return ReadyResponse(status=overall, dependencies=deps)


# -- the router -----------------------------------------------------------------------------------------
def build_router(svc: Services) -> APIRouter:
    """Every route of the API, bound to ``svc``."""
    router = APIRouter()
    for add in (_signal_route, _session_routes, _operation_routes, _symbols_route):
        add(router, svc)
    return router


def _signal_route(router: APIRouter, svc: Services) -> None:
    """``POST /api/v1/trading/signal``: the :class:`SignalPipeline` (admission, then the answer)."""
    pipeline = svc.pipeline

    async def trading_signal(req: SignalRequest, request: Request, response: Response,
                             principal: Principal = Depends(admitted(pipeline))) -> Response:
        rid = request_id_of(request)
        body = pipeline.answer_local(rid, req.symbol, req.timeframe)  # an L1 hit: no thread hop
        if body is None:
            body = await run_in_threadpool(pipeline.answer, rid, req.symbol, req.timeframe)
        return _json(body, response.headers)

    router.add_api_route(
        "/api/v1/trading/signal", trading_signal, methods=["POST"], response_model=SignalResponse,
        tags=["signals"], summary="Trading signal for a symbol and timeframe as of the market clock",
        responses=errors(400, 401, 403, 413, 422, 429, 503), openapi_extra={"security": _SIGNAL_SECURITY},
        route_class_override=signal_route_class(pipeline),
    )


def _json(body: dict[str, Any], headers: Mapping[str, str]) -> Response:
    """``body`` (already in its response model's shape: the formatter builds it) as orjson bytes, with
    ``headers`` (FastAPI merges a dependency's headers only into responses it builds itself)."""
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json",
                    headers=headers)


def _session_routes(router: APIRouter, svc: Services) -> None:
    """Log in with a signed request, refresh a session token, log out."""

    @router.post(
        "/api/v1/auth/session", response_model=SessionResponse, tags=["auth"],
        summary="Log in with a signed request; returns a session bearer token",
        dependencies=[Depends(rate_limited)], responses=errors(400, 401, 403, 413, 429, 503),
    )
    async def login(request: Request, _k: Any = Depends(_api_key_doc)) -> dict[str, Any]:
        body = await request.body()
        issued = await run_in_threadpool(svc.auth.login, request.headers, request.method,
                                         path_with_query(request.scope), body, request_id_of(request))
        return session_body(issued)

    @router.post(
        "/api/v1/auth/refresh", response_model=SessionResponse, tags=["auth"],
        summary="Exchange a session token (active or expired-but-refreshable) for a new one",
        dependencies=[Depends(rate_limited)], responses=errors(400, 401, 413, 429, 503),
    )
    async def refresh(request: Request, _b: Any = Depends(_bearer_doc)) -> dict[str, Any]:
        issued = await run_in_threadpool(svc.auth.refresh, _bearer(request), request_id_of(request))
        return session_body(issued)

    @router.delete(
        "/api/v1/auth/session", response_model=LogoutResponse, tags=["auth"], summary="End a session",
        dependencies=[Depends(rate_limited)], responses=errors(401, 429, 503),
    )
    async def logout(request: Request, _b: Any = Depends(_bearer_doc)) -> dict[str, Any]:
        ended = await run_in_threadpool(svc.auth.logout, _bearer(request))
        return {"ended": ended}


def _operation_routes(router: APIRouter, svc: Services) -> None:
    """Liveness, readiness and the Prometheus exposition."""

    @router.get("/health", response_model=HealthResponse, tags=["operations"], summary="Liveness")
    async def health() -> dict[str, Any]:
        return {"status": "ok"}

    @router.get(
        "/ready", response_model=ReadyResponse, tags=["operations"],
        summary="Readiness: 200 ready/degraded (a cache tier down), 503 when auth cannot work",
        responses={503: {"model": ReadyResponse, "description": "key store or session store unreachable"}},
    )
    async def ready(response: Response) -> ReadyResponse:
        report = await run_in_threadpool(probe, svc)
        if report.status == "unavailable":
            response.status_code = 503
        return report

    @router.get(
        "/metrics", response_class=PlainTextResponse, tags=["operations"],
        summary="Prometheus text exposition",
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                         "description": "metrics"}},
    )
    async def metrics() -> Response:
        return Response(svc.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @router.get("/api/v1/alerts", tags=["operations"],
                summary="Alerts: active incidents and the 50 most recent, with severity and escalation level")
    async def alerts() -> dict[str, Any]:
        if svc.resilience is None:
            return {"time": svc.clock.now(), "active": [], "recent": [], "breakers": {}}
        return svc.resilience.snapshot()


def _symbols_route(router: APIRouter, svc: Services) -> None:
    """``GET /api/v1/symbols``: the markets served and where the market clock stands."""

    @router.get(
        "/api/v1/symbols", response_model=SymbolsResponse, tags=["signals"],
        summary="Markets served, with their timeframe and recorded span",
        dependencies=[Depends(rate_limited)], responses=errors(429),
    )
    async def symbols() -> dict[str, Any]:
        out = []
        for m in sorted(svc.markets.values(), key=lambda m: m.symbol):
            last = svc.feed.last_closed_ms(m.symbol, m.timeframe)
            out.append(MarketResponse(symbol=m.symbol, timeframe=m.timeframe, first=m.first_ms,
                                      last_close=m.last_close_ms, last_closed=None if last < 0 else last,
                                      source=m.source))
        return {"market_time": math.floor(svc.market_clock.now() * 1000.0), "symbols": out}


def _bearer(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() != "bearer ":
        raise MissingCredentials("send 'Authorization: Bearer <session token>'")
    return auth[7:].strip()
