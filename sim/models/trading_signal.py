"""Complete Trading Signal Flow (seed diagram), driving the real gateway-side components on sim time.

Real objects on one :class:`~sim.tiers.CostClock` (market time = ``market.start`` + sim time):
the GCRA :class:`~supreme.api.ratelimit.InMemoryRateLimiter`, the
:class:`~supreme.api.auth.service.AuthService` (HMAC signatures, TTL key cache, replay guard),
the :class:`~supreme.cache.manager.CacheManager` (signal cache and market-data cache; the seed's
Neuromorphic_Cache is its tiers), the :class:`~supreme.market.feed.MarketDataFeed` over a
:class:`~supreme.market.replay.ReplayConnector` of the bundled daily sample, and the
:class:`~supreme.strategy.engine.StrategyEngine`.  Simulated: the I/O (Redis/PostgreSQL tiers,
the key store's SELECT, the nonce store's SET NX, the exchange fetch) and the clients.

Per request (open-loop Poisson arrivals, ``api.workers`` gateway workers as a Resource)::

    Client.request -> API_Gateway.receive
    Rate_Limiter.check (ok | rejected -> API_Gateway.respond 429)
    Auth_Service ... (validate_signature | rejected -> 401)
    API_Gateway.check_signal_cache -> Cache_Manager.get (hit -> respond cached)
    miss: Strategy_Engine.request_market_data -> Market_Data_Feed.request -> Cache_Manager.get
          [-> Exchange_Connector.fetch -> tiers set] -> Strategy_Engine.process_indicators
          -> apply_trading_logic -> API_Gateway.cache_signal -> Cache_Manager.set
    API_Gateway.request (total latency; what supreme.api.sla validates) -> Client.response

Departure: the handler's real code runs synchronously when a worker picks the request up, and its
I/O time is paid afterwards (see :mod:`sim.tiers`).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Generator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import simpy

from sim.models._context import SimContext
from sim.scenario import load_defaults, make_scenario
from sim.tiers import SimIO, SimMemoryTier, SimRemoteTier

__all__ = [
    "DEFAULTS", "ENDPOINT", "FLOW", "NAME", "SignalService", "build", "clients", "make_context",
    "record_outcomes", "run", "serve", "summarize",
]

NAME = "trading_signal"
FLOW = "trading_signal"
ENDPOINT = "POST /api/v1/trading/signal"
PATH = "/api/v1/trading/signal"

DEFAULTS: dict[str, Any] = load_defaults(NAME)

_EXTRA_LATENCIES = {"api.overhead": (150e-6, 600e-6)}  # parse/route/serialise in the gateway: median, p99


@functools.lru_cache(maxsize=4)
def _sample(symbol: str) -> pd.DataFrame:
    from supreme.market.sample import load_sample

    return load_sample(symbol)


class _ChargedConnector:
    """The real ReplayConnector; each fetch charges the exchange round trip (the only simulated part)."""

    def __init__(
        self, inner: Any, io: SimIO, key: str, resource: str | None = None, component: str = "exchange"
    ) -> None:
        self._inner, self._io, self._key = inner, io, key
        self._resource, self._component = resource, component
        self.rid: str | None = None

    def fetch_ohlcv(self, *args: Any, **kwargs: Any) -> Any:
        io = self._io
        cost = io.draw(self._key, component=self._component)
        if self._resource == "postgresql" and io.log.enabled:  # recorded candles served by the database
            io.log.record(io.clock.now(), io.flow, "Database", "query", request_id=self.rid, latency=cost)
        io.charge(self._resource, cost)
        if io.fails(self._component):
            from supreme.market.connector import ExchangeError

            raise ExchangeError("exchange unavailable (fault schedule)")
        return self._inner.fetch_ohlcv(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _SimKeyStore:
    """API-key rows in memory; a lookup charges a PostgreSQL SELECT through the pool."""

    def __init__(self, io: SimIO, records: dict[str, tuple[Any, bytes]]) -> None:
        self.io, self.records = io, records

    def get(self, key_id: str) -> Any:
        self.io.charge("postgresql", self.io.draw("postgresql.select", component="postgresql"))
        rec = self.records.get(key_id)
        return None if rec is None else rec[0]

    def verifier(self, record: Any) -> Any:
        from supreme.api.auth.keys import Verifier

        return Verifier(record.key_id, secret=self.records[record.key_id][1])


class _SimNonceClient:
    """``SET key 1 NX PX ttl`` on a dict with expiry on the sim clock; charges a Redis round trip."""

    def __init__(self, io: SimIO) -> None:
        self.io = io
        self.data: dict[str, float] = {}

    def set(self, key: str, value: bytes, nx: bool = False, px: int | None = None) -> bool:
        self.io.charge("redis", self.io.draw("L2.set", "redis.set", component="redis"))
        now = self.io.now()
        exp = self.data.get(key)
        if nx and exp is not None and exp > now:
            return False
        if len(self.data) > 50_000:  # expired nonces go, as Redis would expire them
            self.data = {k: e for k, e in self.data.items() if e > now}
        self.data[key] = now + (px or 0) / 1000.0
        return True


class SignalService:
    """The gateway handler over the real components (built once per run)."""

    def __init__(
        self,
        ctx: SimContext,
        sc: Mapping[str, Any],
        io: SimIO,
        *,
        flow: str = FLOW,
        data_resource: str | None = None,
        data_component: str = "exchange",
    ) -> None:
        from supreme.api.auth.keys import KeyRecord
        from supreme.api.auth.nonces import ReplayGuard
        from supreme.api.auth.service import AuthService
        from supreme.api.ratelimit import InMemoryRateLimiter
        from supreme.cache.manager import CacheManager
        from supreme.cache.policies import make_policy
        from supreme.market.feed import MarketDataFeed
        from supreme.market.replay import ReplayConnector
        from supreme.strategy.engine import StrategyEngine

        self.ctx, self.sc, self.io = ctx, sc, io
        self.flow = flow
        clock = self.clock = io.clock
        log = ctx.log
        self.symbols = [s.strip() for s in str(sc["symbols"]).split(",") if s.strip()]
        self.timeframe = str(sc["timeframe"])
        self.limiter = InMemoryRateLimiter(
            float(sc["ratelimit.rate"]), int(sc["ratelimit.burst"]), clock, event_log=log
        )
        records: dict[str, tuple[Any, bytes]] = {}
        self.keys: list[tuple[str, bytes]] = []
        for i in range(int(sc["clients"])):
            kid = f"ak_sim{i:04d}"
            secret = hashlib.sha256(f"{sc['seed']}:{kid}".encode()).hexdigest().encode()
            records[kid] = (KeyRecord(kid, "hmac", frozenset({"signal:read"}), 0.0), secret)
            self.keys.append((kid, secret))
        self.auth = AuthService(
            _SimKeyStore(io, records),  # type: ignore[arg-type]
            clock,
            replay=ReplayGuard(_SimNonceClient(io)),
            cache_ttl=float(sc["auth.cache_ttl"]),
            event_log=log,
        )
        l1 = SimMemoryTier(
            io, make_policy(str(sc["cache.l1.policy"]), int(sc["cache.l1.capacity"])), clock=clock
        )
        self.cache = CacheManager(
            l1,
            SimRemoteTier(io, name="L2", backend=str(sc["l2.backend"])),
            SimRemoteTier(io, name="L3", backend=str(sc["l3.backend"])),
            clock=clock,
            event_log=log,
            flow=flow,
        )
        connector = ReplayConnector({s: _sample(s) for s in self.symbols}, clock, self.timeframe)
        charged_connector = _ChargedConnector(
            connector, io, str(sc["exchange.key"]), data_resource, data_component
        )
        self.feed = MarketDataFeed(
            charged_connector,
            clock,
            cache=self.cache,
            event_log=log,
        )
        self.connector = charged_connector
        self.engine = StrategyEngine(self.feed, clock, event_log=log)
        self.outcomes: dict[str, int] = {}
        self.latencies: list[float] = []
        self.signal_ttl = float(sc["signal.ttl"])

    def rec(self, component: str, operation: str, outcome: str = "ok", **kw: Any) -> None:
        """One row at the cost-aware clock time."""
        log = self.ctx.log
        if log.enabled:
            log.record(self.clock.now(), self.flow, component, operation, outcome, **kw)

    def receive(self, rid: str, client: int, symbol: str) -> tuple[str, bytes]:
        """Charge the gateway's own work and record the arrival; the client's key id and secret."""
        self.io.charge(None, self.io.draw(str(self.sc["api.overhead_key"])))
        self.rec("API_Gateway", "receive", request_id=rid, key=symbol)
        return self.keys[client]

    def refuse(self, rid: str, outcome: str, detail: str, key: str | None = None) -> str:
        """Record the gateway's refusal (``detail`` carries the status) and return ``outcome``."""
        self.rec("API_Gateway", "respond", outcome, request_id=rid, key=key, detail=detail)
        return outcome

    def auth_failure(self, rid: str, kid: str, secret: bytes, symbol: str) -> str | None:
        """Sign the request as the client does and authenticate it; the AuthError's name, or None."""
        from supreme.api.auth.errors import AuthError
        from supreme.api.auth.signing import sign_request

        body = json.dumps({"symbol": symbol, "timeframe": self.timeframe}).encode()
        headers = sign_request(
            kid, secret, "POST", PATH, body, timestamp_ms=int(self.clock.now() * 1000), nonce=rid
        )
        try:
            self.auth.authenticate(headers, "POST", PATH, body, required=("signal:read",), request_id=rid)
        except AuthError as exc:
            return type(exc).__name__
        return None

    def cached(self, rid: str, symbol: str, prefix: str, operation: str) -> tuple[str, Any]:
        """Look the answer for the last closed candle up under ``prefix``; its cache key and value."""
        last = self.feed.last_closed_ms(symbol, self.timeframe)
        key = f"{prefix}:{symbol}:{self.timeframe}:{last}"
        value = self.cache.get(key, request_id=rid)
        self.rec("API_Gateway", operation, "miss" if value is None else "hit", request_id=rid, key=symbol)
        return key, value

    def generate(self, rid: str, symbol: str) -> tuple[Any, str]:
        """Run the strategy; ``(signal, "")``, or ``(None, error name)`` when it fails."""
        self.connector.rid = rid
        try:
            return self.engine.generate(symbol, self.timeframe, request_id=rid), ""
        except Exception as exc:  # exchange down or too little data: a 503, never a crash
            return None, type(exc).__name__

    def handle(self, rid: str, client: int, symbol: str) -> str:
        """The synchronous handler: rate limit, auth, signal cache, strategy; returns the outcome."""
        kid, secret = self.receive(rid, client, symbol)
        if not self.limiter.check(kid).allowed:
            return self.refuse(rid, "rejected", "429", key=symbol)
        self.rec("API_Gateway", "rate_limit_ok", request_id=rid, key=symbol)
        failure = self.auth_failure(rid, kid, secret, symbol)
        if failure:
            return self.refuse(rid, "rejected", f"401 {failure}", key=symbol)
        self.rec("API_Gateway", "auth_ok", request_id=rid, key=symbol)
        skey, cached = self.cached(rid, symbol, "signal", "check_signal_cache")
        if cached is not None:
            self.rec("API_Gateway", "respond", "ok", request_id=rid, key=symbol, detail="cached")
            return "hit"
        signal, failure = self.generate(rid, symbol)
        if signal is None:
            return self.refuse(rid, "error", f"503 {failure}", key=symbol)
        self.rec("API_Gateway", "cache_signal", request_id=rid, key=symbol)
        self.cache.set(skey, signal.to_dict(), ttl=self.signal_ttl, request_id=rid)
        self.rec("API_Gateway", "respond", "ok", request_id=rid, key=symbol, detail=signal.action.value)
        return "miss"


def serve(
    ctx: SimContext, svc: SignalService, gateway: simpy.Resource, client: int, symbol: str,
    route: str | None = None,
) -> Generator[simpy.Event, Any, None]:
    """One request: wait for a worker of ``gateway``, run the handler, pay its I/O, record the totals."""
    env, io, log, flow = ctx.env, svc.io, ctx.log, svc.flow
    rid = log.next_request_id()
    t0 = env.now
    if log.enabled:
        log.record(svc.clock.now(), flow, "Client", "request", request_id=rid, key=ENDPOINT)
        if route is not None:
            log.record(svc.clock.now(), flow, "Load_Balancer", "route", request_id=rid, detail=route)
    with gateway.request() as slot:
        yield slot
        io.begin()
        outcome = svc.handle(rid, client, symbol)
        yield from io.settle(request_id=rid)
    total = env.now - t0
    # the real gateway's vocabulary: a refusal (429/401) is "rejected", a 503 "error" (charged to the
    # SLA's error budget), a served request "ok"
    status = outcome if outcome in ("error", "rejected") else "ok"
    if log.enabled:
        now = svc.clock.now()
        log.record(
            now, flow, "API_Gateway", "request", status,
            request_id=rid, key=ENDPOINT, latency=total, detail=outcome,
        )
        log.record(now, flow, "Client", "response", status, request_id=rid, key=symbol, latency=total)
    svc.outcomes[outcome] = svc.outcomes.get(outcome, 0) + 1
    svc.latencies.append(total)


def clients(
    ctx: SimContext, svc: SignalService, sc: Mapping[str, Any], backends: int | None = None
) -> Generator[simpy.Event, Any, None]:
    """Open-loop Poisson arrivals of ``requests`` requests at one gateway, or round-robin over
    ``backends`` gateways behind a load balancer that records each route."""
    env, rng = ctx.env, ctx.rng
    gateways = [simpy.Resource(env, capacity=int(sc["api.workers"])) for _ in range(backends or 1)]
    n = int(sc["requests"])
    gaps = rng.exponential(1.0 / float(sc["load.rate"]), size=n)
    who = rng.integers(int(sc["clients"]), size=n)
    what = rng.integers(len(svc.symbols), size=n)
    for i in range(n):
        yield env.timeout(float(gaps[i]))
        gw = i % len(gateways)
        route = None if backends is None else f"gateway-{gw}"
        env.process(serve(ctx, svc, gateways[gw], int(who[i]), svc.symbols[int(what[i])], route))


def record_outcomes(df: pd.DataFrame, svc: SignalService) -> None:
    """Outcome counts and end-to-end latency percentiles into ``df.attrs``."""
    lat = np.asarray(svc.latencies)
    df.attrs["outcomes"] = dict(sorted(svc.outcomes.items()))
    df.attrs["latency"] = {
        f"p{p}": float(np.percentile(lat, p)) if lat.size else float("nan") for p in (50, 95, 99)
    }


def build(sc: Mapping[str, Any]) -> tuple[SimContext, SignalService]:
    """Context, SimIO and the service for a validated scenario (shared with sla_validation)."""
    ctx, io = make_context(NAME, FLOW, sc)
    return ctx, SignalService(ctx, sc, io)


def make_context(name: str, flow: str, sc: Mapping[str, Any]) -> tuple[SimContext, SimIO]:
    """The run's context and SimIO with the signal path's extra latencies and the market clock start."""
    from sim.latency import LogNormal
    from sim.models.cache_hierarchy import make_io

    ctx = SimContext(name, flow, sc)
    for key, (median, p99) in _EXTRA_LATENCIES.items():
        if key not in ctx.book:
            ctx.book[key] = LogNormal(median, p99)
    io = make_io(ctx, sc, flow)
    io.clock.offset = float(sc["market.start"])
    return ctx, io


def run(scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Simulate ``requests`` signal requests; returns the event log (aggregates in ``attrs``)."""
    sc = make_scenario(DEFAULTS, scenario)
    ctx, svc = build(sc)
    ctx.env.process(clients(ctx, svc, sc))
    ctx.env.run()
    df = ctx.frame()
    record_outcomes(df, svc)
    df.attrs["sim_seconds"] = float(ctx.env.now)
    return df


def summarize(log: pd.DataFrame) -> dict[str, Any]:
    """Outcome counts (hit/miss/rejected/error) and end-to-end latency percentiles."""
    out: dict[str, Any] = {f"n_{k}": v for k, v in log.attrs.get("outcomes", {}).items()}
    out.update(log.attrs.get("latency", {}))
    return out
