"""The trading-signal pipeline: the seed's "Complete Trading Signal Flow" as one synchronous object.

:class:`SignalPipeline` holds the diagram's steps, in order; each step logs its own row::

    1 Rate_Limiter        per client address (before authentication)           refused: 429
    2 Auth_Service        signature or session, scope ``signal:read``           refused: 401/403/503
    3 Rate_Limiter        per API key (after authentication)                    refused: 429
      (market check)      the symbol is served at this timeframe                refused: 422
    4 Cache_Manager       ``get(signal key, loader=Strategy_Engine)``: a miss runs the engine once per
                          key (the manager's single flight) and stores the signal in L3, L2 and L1;
                          key ``signal:{rules digest}:{symbol}:{timeframe}:{newest closed candle}``
    5 Response_Formatter  the response body (hit and miss format the same way)
    6 Metrics_Collector   the signal cache's hit/miss counter

Two worlds drive the very same object: the FastAPI route (:mod:`supreme.api.routes`) on the service
clock with real back-ends, and the SimPy models (``sim/models/trading_signal.py``,
``request_pipeline.py``, ``sla_validation.py``) on the simulated clock with simulated I/O.  The route
calls :meth:`SignalPipeline.admit` from its dependency and :meth:`SignalPipeline.answer` from its
handler (FastAPI validates the JSON body between the two, so an unauthenticated request with a bad
body stays a 401), or :meth:`~SignalPipeline.admit_local` / :meth:`~SignalPipeline.answer_local`
on the event loop when memory alone can answer (the same steps and rows, else None with nothing done);
a model calls :meth:`SignalPipeline.handle`, which is exactly ``admit`` then ``answer``.

Refusals are exceptions: :class:`ApiError` (with its status and JSON code), the
:class:`~supreme.api.auth.AuthError` family, or a data error; :func:`refusal_status` maps any of them to
the HTTP status and code the app answers with, so both worlds count the same statuses.
:func:`record_request` is the gateway's closing step (the ``API_Gateway``/``request`` row the SLA
validator judges, then ``Metrics_Collector``/``record``), shared by the app's middleware and the models.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from supreme.api.auth import AuthError, AuthService, Principal
from supreme.api.formatter import ResponseFormatter
from supreme.api.ratelimit import RateLimiter, RateLimitResult, rate_limit_headers
from supreme.cache import CacheManager, TierError
from supreme.cache.tiers.memory import MISSING
from supreme.clock import Clock
from supreme.errors import SupremeError
from supreme.events import EventLog
from supreme.market.connector import ExchangeUnavailable, UnknownSymbol
from supreme.market.feed import MarketDataFeed
from supreme.monitoring.metrics import Metrics
from supreme.strategy.engine import InsufficientData, InvalidMarketData, StrategyEngine
from supreme.strategy.rules import RuleConfig
from supreme.strategy.window_engine import WindowEngine

__all__ = [
    "FLOW", "SIGNAL_SCOPE", "Admission", "ApiError", "SignalCall", "SignalPipeline", "record_request",
    "refusal_status", "rules_digest",
]

SIGNAL_SCOPE = "signal:read"
FLOW = "trading_signal"


class ApiError(SupremeError):
    """A refusal with an HTTP status and a JSON code (rendered by the app's handler)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers


#: SupremeError subclasses that are not the caller's fault but have an honest status.
_STATUS: tuple[tuple[type[BaseException], int, str], ...] = (
    (UnknownSymbol, 422, "unknown_symbol"),
    (InsufficientData, 422, "insufficient_data"),
    (ExchangeUnavailable, 503, "exchange_unavailable"),
    (InvalidMarketData, 502, "bad_market_data"),
    (TierError, 503, "cache_unavailable"),
)


def refusal_status(exc: BaseException) -> tuple[int, str] | None:
    """The HTTP status and JSON code the gateway answers ``exc`` with (None: an internal error)."""
    if isinstance(exc, (ApiError, AuthError)):
        return exc.status, exc.code
    for cls, status, code in _STATUS:
        if isinstance(exc, cls):
            return status, code
    return None


def rules_digest(config: RuleConfig) -> str:
    """A short digest of the strategy's rule settings: different rules never share a cached signal."""
    return hashlib.sha256(repr(config).encode()).hexdigest()[:8]


def limited(result: RateLimitResult, what: str) -> ApiError:
    """The 429 for a refused rate-limit check (``Retry-After`` and the limit headers)."""
    return ApiError(429, "rate_limited",
                    f"rate limit exceeded for {what}; retry in {result.retry_after:.3f} s",
                    headers=rate_limit_headers(result))


@dataclass(frozen=True, slots=True)
class SignalCall:
    """One signal request as the pipeline sees it: who sent it, its signed form, what it asks for."""

    request_id: str
    address: str
    headers: Mapping[str, str]
    method: str
    path: str
    body: bytes
    symbol: str = ""
    timeframe: str = ""


@dataclass(frozen=True, slots=True)
class Admission:
    """What admission found: the principal and the per-key limit's figures (for response headers)."""

    principal: Principal
    key_limit: RateLimitResult | None


class SignalPipeline:
    """The signal flow's steps in order, over injected components (see the module docstring)."""

    def __init__(self, *, clock: Clock, market_clock: Clock, event_log: EventLog, auth: AuthService,
                 cache: CacheManager, feed: MarketDataFeed, engine: StrategyEngine | WindowEngine,
                 formatter: ResponseFormatter | None = None, metrics: Metrics | None = None,
                 markets: Mapping[str, str] | None = None, ip_limiter: RateLimiter | None = None,
                 key_limiter: RateLimiter | None = None, signal_ttl: float = 86_400.0,
                 flow: str = FLOW, scopes: Iterable[str] = (SIGNAL_SCOPE,)) -> None:
        self.clock, self.market_clock, self.event_log = clock, market_clock, event_log
        self.auth, self.cache, self.feed, self.engine = auth, cache, feed, engine
        # the real route's formatter, unless one is given: both worlds format (and log) alike
        self.formatter = formatter if formatter is not None else ResponseFormatter(clock, event_log)
        self.metrics = metrics
        self.markets = dict(markets) if markets is not None else None  # symbol -> timeframe served
        self.ip_limiter, self.key_limiter = ip_limiter, key_limiter
        self.signal_ttl, self.flow, self.scopes = signal_ttl, flow, tuple(scopes)
        self.digest = rules_digest(engine.rules.config)
        # admission can run without I/O only when neither limiter is a round trip (see admit_local)
        self._memory_limits = not any(getattr(lim, "blocking", True)
                                      for lim in (ip_limiter, key_limiter) if lim is not None)

    # -- steps 1-3: admission ------------------------------------------------------------------------
    def admit(self, call: SignalCall) -> Admission:
        """Per-address limit, authentication (scope checked), per-key limit; raises the refusal."""
        rid = call.request_id
        if self.ip_limiter is not None:
            result = self.ip_limiter.check(f"ip:{call.address}", request_id=rid)
            if not result.allowed:
                raise limited(result, f"address {call.address}")
        principal = self.authenticate(call)
        key_limit = None
        if self.key_limiter is not None:
            key_limit = self.key_limiter.check(f"key:{principal.key_id}", request_id=rid)
            if not key_limit.allowed:
                raise limited(key_limit, f"API key {principal.key_id}")
        return Admission(principal, key_limit)

    def admit_local(self, call: SignalCall) -> Admission | None:
        """:meth:`admit` when it needs no I/O (in-memory limiters and credentials
        :meth:`AuthService.answers_locally` can check), else None with nothing done: the caller then runs
        :meth:`admit` off the event loop."""
        if not self._memory_limits or not self.auth.answers_locally(call.headers):
            return None
        return self.admit(call)

    def authenticate(self, call: SignalCall) -> Principal:
        """Auth_Service: the request as signed (or its bearer session), with the pipeline's scopes."""
        log, rid = self.event_log, call.request_id
        t0 = self.clock.now()
        try:
            principal = self.auth.authenticate(call.headers, call.method, call.path, call.body, self.scopes,
                                               rid)
        except AuthError as exc:
            if log.enabled:
                now = self.clock.now()
                log.record(now, self.flow, "Auth_Service", "validate", "rejected", request_id=rid,
                           latency=now - t0, detail=exc.code)
            raise
        if log.enabled:
            now = self.clock.now()
            log.record(now, self.flow, "Auth_Service", "validate", "ok", request_id=rid,
                       key=principal.key_id, latency=now - t0, detail=principal.method)
        return principal

    # -- steps 4-6: the answer -----------------------------------------------------------------------
    def check_market(self, symbol: str, timeframe: str) -> None:
        """422 unless ``symbol`` is served at ``timeframe`` (when the pipeline knows its markets)."""
        if self.markets is None:
            return
        served = self.markets.get(symbol)
        if served is None:
            raise ApiError(422, "unknown_symbol",
                           f"unknown symbol {symbol!r}; available: {sorted(self.markets)}")
        if timeframe != served:
            raise ApiError(422, "unknown_timeframe",
                           f"{symbol} is served at timeframe {served!r}, not {timeframe!r}")

    def signal_key(self, symbol: str, timeframe: str) -> str:
        """The signal cache key as of the market clock's now (names the newest closed candle)."""
        last = self.feed.last_closed_ms(symbol, timeframe)
        if last < 0:
            raise InsufficientData(f"{symbol} {timeframe}: no candle has closed yet at the market clock's "
                                   "now")
        return f"signal:{self.digest}:{symbol}:{timeframe}:{last}"

    def answer_local(self, request_id: str, symbol: str, timeframe: str) -> dict[str, Any] | None:
        """:meth:`answer` when L1 holds the signal (no I/O), else None with nothing logged: the caller
        then runs :meth:`answer` off the event loop."""
        self.check_market(symbol, timeframe)
        key = self.signal_key(symbol, timeframe)
        t0 = self.clock.now()
        signal = self.cache.get_local(key, request_id=request_id, flow=self.flow)
        if signal is MISSING:
            return None
        return self._respond(request_id, key, signal, False, t0)

    def answer(self, request_id: str, symbol: str, timeframe: str) -> dict[str, Any]:
        """Market check, signal cache (engine as loader), formatter, metrics; the response body."""
        self.check_market(symbol, timeframe)
        log, clock, flow, rid = self.event_log, self.clock, self.flow, request_id
        key = self.signal_key(symbol, timeframe)
        generated = False

        def generate() -> dict[str, Any]:
            nonlocal generated
            generated = True
            t1 = clock.now()
            signal = self.engine.generate(symbol, timeframe, request_id=rid).to_dict()
            if log.enabled:
                now = clock.now()
                log.record(now, flow, "API_Gateway", "generate_signal", "ok", request_id=rid, key=key,
                           latency=now - t1)
            return signal

        t0 = clock.now()
        signal = self.cache.get(key, loader=generate, request_id=rid, ttl=self.signal_ttl, flow=flow)
        return self._respond(rid, key, signal, generated, t0)

    def _respond(self, rid: str, key: str, signal: Any, generated: bool, t0: float) -> dict[str, Any]:
        """Steps 4 (its row) to 6 once the signal cache answered: the response body."""
        log = self.event_log
        if log.enabled:
            now = self.clock.now()
            log.record(now, self.flow, "API_Gateway", "check_signal_cache", "miss" if generated else "hit",
                       request_id=rid, key=key, latency=now - t0)
        market_ms = math.floor(self.market_clock.now() * 1000.0)
        body = self.formatter.signal(signal, request_id=rid, cached=not generated, cache_key=key,
                                     market_time_ms=market_ms)
        if self.metrics is not None:
            (self.metrics.cache_miss if generated else self.metrics.cache_hit)("signal")
        return body

    def handle(self, call: SignalCall) -> tuple[Admission, dict[str, Any]]:
        """Every step in order: :meth:`admit` then :meth:`answer`; raises the refusal."""
        admission = self.admit(call)
        return admission, self.answer(call.request_id, call.symbol, call.timeframe)


def record_request(log: EventLog, clock: Clock, metrics: Metrics | None, request_id: str, endpoint: str,
                   status: int, latency: float) -> None:
    """The gateway's closing rows: ``API_Gateway``/``request`` with the request's total ``latency``,
    then ``Metrics_Collector``/``record``; both worlds use this, so the SLA validator reads the same
    rows."""
    t1 = clock.now()
    if log.enabled:
        outcome = "ok" if status < 400 else ("rejected" if status < 500 else "error")
        log.record(t1, "request_pipeline", "API_Gateway", "request", outcome, request_id=request_id,
                   key=endpoint, latency=latency, detail=f"status={status}")
    if metrics is not None:
        metrics.observe_request(endpoint, status, latency)
        if status >= 500:
            metrics.record_error("API_Gateway", "error")
    if log.enabled:
        now = clock.now()
        log.record(now, "request_pipeline", "Metrics_Collector", "record", "ok", request_id=request_id,
                   key=endpoint, latency=now - t1)
