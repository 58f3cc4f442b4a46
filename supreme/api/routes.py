"""The signal API's routes: the trading-signal pipeline, sessions, health, readiness, metrics, symbols.

``POST /api/v1/trading/signal`` follows the seed's "Complete Trading Signal Flow"::

    Rate_Limiter (per address)  ─ over ─▶ 429
    Auth_Service (signature or session; scope signal:read; then the per-key limit)  ─ ▶ 401/403/429
    Cache_Manager: signal cache, key signal:{rules}:{symbol}:{timeframe}:{newest closed candle}
      hit  ─▶ Response_Formatter
      miss ─▶ Strategy_Engine ─▶ Market_Data_Feed ─▶ Cache_Manager (market data) ─▶ Exchange_Connector
             ─▶ Cache_Manager: store the signal ─▶ Response_Formatter
    Metrics_Collector (in the gateway middleware, see :mod:`supreme.api.app`)

Because the key names the newest closed candle, a cached signal is never stale: once another candle
closes on the market clock the key changes.  (If a candle closes while a signal is being computed, the
signal is newer than its key's candle: newer, never older.)
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse
from fastapi.security import APIKeyHeader, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from supreme.api.auth import AuthError, MissingCredentials, Principal
from supreme.api.deps import admit, authenticate, path_with_query, session_body
from supreme.api.formatter import ResponseFormatter
from supreme.api.ratelimit import RateLimitResult, rate_limit_headers
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
from supreme.errors import SupremeError
from supreme.events import EventLog
from supreme.strategy.engine import InsufficientData

__all__ = ["ApiError", "build_router", "request_id_of"]

SIGNAL_SCOPE = "signal:read"
FLOW = "trading_signal"

# Documented in OpenAPI; the values are read by Auth_Service from the raw headers.
_api_key_doc = APIKeyHeader(name="X-API-Key", auto_error=False,
                            description="key id; also send X-Timestamp, X-Signature (and X-Nonce)")
_bearer_doc = HTTPBearer(auto_error=False, description="session token from POST /api/v1/auth/session")


class ApiError(SupremeError):
    """A refusal with an HTTP status and a JSON code (rendered by the app's handler)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers


def request_id_of(request: Request) -> str:
    """The gateway's request id for ``request``."""
    return str(request.scope.get("supreme.request_id") or "")


def services_of(request: Request) -> Services:
    """The :class:`Services` of the app serving ``request``."""
    svc: Services = request.app.state.services
    return svc


def _record(log: EventLog, t0: float, now: float, flow: str, component: str, op: str, outcome: str,
            rid: str, key: str | None = None, detail: str | None = None) -> None:
    log.record(now, flow, component, op, outcome, request_id=rid, key=key, latency=now - t0, detail=detail)


def _limited(result: RateLimitResult, what: str) -> ApiError:
    return ApiError(429, "rate_limited",
                    f"rate limit exceeded for {what}; retry in {result.retry_after:.3f} s",
                    headers=rate_limit_headers(result))


# -- dependencies: Rate_Limiter, then Auth_Service -----------------------------------------------------
async def rate_limited(request: Request) -> None:
    """Per-address GCRA check (before authentication)."""
    svc = services_of(request)
    if svc.ip_limiter is None:
        return
    address = request.client.host if request.client is not None else "unknown"
    # the limiter logs its own Rate_Limiter step under this request's id
    result = svc.ip_limiter.check(f"ip:{address}", request_id=request_id_of(request))
    if not result.allowed:
        raise _limited(result, f"address {address}")


def authenticated(*scopes: str) -> Any:
    """A dependency: authenticate by signature or session, check ``scopes``, apply the per-key limit."""

    async def dependency(request: Request, response: Response,
                         _k: Any = Depends(_api_key_doc), _b: Any = Depends(_bearer_doc)) -> Principal:
        svc = services_of(request)
        rid = request_id_of(request)
        body = await request.body()
        t0 = svc.clock.now()
        try:
            principal = await authenticate(svc.auth, request, body, scopes, rid)
        except AuthError as exc:
            _record(svc.event_log, t0, svc.clock.now(), FLOW, "Auth_Service", "validate", "rejected", rid,
                    None, exc.code)
            raise
        _record(svc.event_log, t0, svc.clock.now(), FLOW, "Auth_Service", "validate", "ok", rid,
                principal.key_id, principal.method)
        return admit(principal, response, svc.key_limiter, rid, _limited)

    return dependency


# -- the signal flow (runs in a worker thread: the engine and the tiers block) --------------------------
def rules_digest(svc: Services) -> str:
    """A short digest of the strategy's rule settings: different rules never share a cached signal."""
    return hashlib.sha256(repr(svc.engine.rules.config).encode()).hexdigest()[:8]


def signal_flow(svc: Services, formatter: ResponseFormatter, digest: str, rid: str, symbol: str,
                timeframe: str) -> dict[str, Any]:
    """Signal cache → (miss) strategy engine → cache the signal → format.

    The engine runs as the cache's loader, so concurrent misses on one key generate the signal once
    (the manager's single flight) and the manager stores it in L3, L2 and L1 (journaling a write to a
    tier that is down).
    """
    log, clock = svc.event_log, svc.clock
    last = svc.feed.last_closed_ms(symbol, timeframe)
    if last < 0:
        raise InsufficientData(f"{symbol} {timeframe}: no candle has closed yet at the market clock's "
                               "now")
    key = f"signal:{digest}:{symbol}:{timeframe}:{last}"
    generated = False

    def generate() -> dict[str, Any]:
        nonlocal generated
        generated = True
        t1 = clock.now()
        signal = svc.engine.generate(symbol, timeframe, request_id=rid).to_dict()
        _record(log, t1, clock.now(), FLOW, "API_Gateway", "generate_signal", "ok", rid, key)
        return signal

    t0 = clock.now()
    signal = svc.cache.get(key, loader=generate, request_id=rid, ttl=svc.signal_ttl, flow=FLOW)
    _record(log, t0, clock.now(), FLOW, "API_Gateway", "check_signal_cache",
            "miss" if generated else "hit", rid, key)
    if generated:
        svc.metrics.cache_miss("signal")
    else:
        svc.metrics.cache_hit("signal")
    market_ms = math.floor(svc.market_clock.now() * 1000.0)
    return formatter.signal(signal, request_id=rid, cached=not generated, cache_key=key,
                            market_time_ms=market_ms)


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
    """``POST /api/v1/trading/signal``: the signal flow behind the rate limit and authentication."""
    formatter = ResponseFormatter(svc.clock, svc.event_log)
    digest = rules_digest(svc)

    @router.post(
        "/api/v1/trading/signal", response_model=SignalResponse, tags=["signals"],
        summary="Trading signal for a symbol and timeframe as of the market clock",
        dependencies=[Depends(rate_limited)], responses=errors(400, 401, 403, 413, 422, 429, 503),
    )
    async def trading_signal(req: SignalRequest, request: Request,
                             principal: Principal = Depends(authenticated(SIGNAL_SCOPE))) -> dict[str, Any]:
        market = svc.markets.get(req.symbol)
        if market is None:
            raise ApiError(422, "unknown_symbol",
                           f"unknown symbol {req.symbol!r}; available: {sorted(svc.markets)}")
        if req.timeframe != market.timeframe:
            raise ApiError(422, "unknown_timeframe",
                           f"{req.symbol} is served at timeframe {market.timeframe!r}, not {req.timeframe!r}")
        return await run_in_threadpool(signal_flow, svc, formatter, digest, request_id_of(request),
                                       req.symbol, req.timeframe)


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
