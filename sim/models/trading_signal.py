"""Complete Trading Signal Flow (seed diagram): the real signal pipeline driven on sim time.

The request's steps are :class:`supreme.api.pipeline.SignalPipeline` -- the very object the FastAPI
route calls -- built through the service's own builders (:mod:`supreme.builders`) on one
:class:`~sim.tiers.CostClock` (market time = ``market.start`` + sim time): the GCRA limiters (per
address, then per key), the :class:`~supreme.api.auth.service.AuthService` (HMAC signatures, TTL key
cache, replay guard), the :class:`~supreme.cache.manager.CacheManager` with its tier breakers (signal
cache with the engine as loader, and the market-data cache; the seed's Neuromorphic_Cache is its
tiers), the :class:`~supreme.market.feed.MarketDataFeed` over a
:class:`~supreme.market.replay.ReplayConnector` of the bundled daily sample, the
:class:`~supreme.strategy.engine.StrategyEngine`, the response formatter and the metrics.  Simulated:
the I/O (Redis/PostgreSQL tiers, the key store's SELECT, the nonce store's SET NX, the exchange fetch),
the gateway's own parse/route/serialise time (``api.overhead``) and the clients, who sign each request.

Per request (open-loop Poisson arrivals from one process, ``api.workers`` gateway workers over a FIFO queue)::

    Client.request
    Rate_Limiter.check (address)        refused -> 429
    Auth_Service ... Auth_Service.validate                 refused -> 401/403
    Rate_Limiter.check (API key)        refused -> 429
    Cache_Manager.get (signal key) -> API_Gateway.check_signal_cache hit | miss
    miss, inside the get: Strategy_Engine.request_market_data -> Market_Data_Feed -> Cache_Manager
          [-> Exchange_Connector.fetch -> tiers set] -> Strategy_Engine.process_indicators
          -> apply_trading_logic -> API_Gateway.generate_signal -> tiers set (L3, L2, L1)
    Response_Formatter.format
    API_Gateway.request (total latency; what supreme.api.sla validates) -> Metrics_Collector.record
    Client.response

Scenario keys ``ratelimit.ip.rate``/``ratelimit.ip.burst`` are the per-address limit and
``ratelimit.rate``/``ratelimit.burst`` the per-key one.

Departure: the handler's real code runs synchronously when a worker picks the request up, and its
I/O time is paid afterwards (see :mod:`sim.tiers`).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import deque
from collections.abc import Generator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import simpy

from sim.models._context import SimContext
from sim.scenario import load_defaults, make_scenario
from sim.tiers import SimIO, SimMemoryTier, SimRemoteTier
from sim.workload import market_frames, signal_requests
from supreme.api.auth.signing import sign_request
from supreme.api.pipeline import SignalCall, record_request, refusal_status
from supreme.errors import SupremeError

__all__ = [
    "DEFAULTS",
    "ENDPOINT",
    "FLOW",
    "NAME",
    "Gateway",
    "SignalService",
    "build",
    "clients",
    "make_context",
    "record_outcomes",
    "run",
    "serve_one",
    "summarize",
]

NAME = "trading_signal"
FLOW = "trading_signal"
ENDPOINT = "POST /api/v1/trading/signal"
PATH = "/api/v1/trading/signal"

DEFAULTS: dict[str, Any] = load_defaults(NAME)

_EXTRA_LATENCIES = {"api.overhead": (150e-6, 600e-6)}  # parse/route/serialise in the gateway: median, p99


@functools.lru_cache(maxsize=4)
def _markets(source: str, symbols: str, count: int, timeframe: str) -> dict[str, pd.DataFrame]:
    """The scenario's markets: windows of the 1m recordings (sim.workload), or the bundled sample."""
    from sim.errors import SimError

    if source == "recordings":
        frames, tf, origin = market_frames(count)
    elif source == "sample":
        from supreme.market.sample import load_sample

        names = [s.strip() for s in symbols.split(",") if s.strip()]
        frames, tf, origin = {s: load_sample(s) for s in names}, "1d", "bundled sample"
    else:
        raise SimError(f"market.source must be 'recordings' or 'sample', got {source!r}")
    if tf != timeframe:
        raise SimError(f"the markets are {tf} candles ({origin}); set timeframe to {tf!r}")
    return frames


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
        # auth.keystore.select: a calibrated book's figure (inside the measured auth CPU), else the SELECT
        self.io.charge(
            "postgresql", self.io.draw("auth.keystore.select", "postgresql.select", component="postgresql")
        )
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
        self.io.charge("redis", self.io.draw("auth.nonce.set", "L2.set", "redis.set", component="redis"))
        now = self.io.now()
        exp = self.data.get(key)
        if nx and exp is not None and exp > now:
            return False
        if len(self.data) > 50_000:  # expired nonces go, as Redis would expire them
            self.data = {k: e for k, e in self.data.items() if e > now}
        self.data[key] = now + (px or 0) / 1000.0
        return True


class SignalService:
    """The real :class:`~supreme.api.pipeline.SignalPipeline` over simulated back-ends (built once per
    run through the builders the service uses), and the client side that signs each request."""

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
        from supreme.api.pipeline import SignalPipeline
        from supreme.builders import build_auth, build_limiters, build_manager, build_strategy
        from supreme.cache.policies import make_policy
        from supreme.market.replay import ReplayConnector
        from supreme.monitoring.metrics import Metrics

        self.ctx, self.sc, self.io = ctx, sc, io
        self.flow = flow
        clock = self.clock = io.clock
        log = ctx.log
        frames = _markets(
            str(sc["market.source"]), str(sc["symbols"]), int(sc["symbols.count"]), str(sc["timeframe"])
        )
        self.symbols = list(frames)
        self.timeframe = str(sc["timeframe"])
        ip_limiter, key_limiter = build_limiters(
            clock,
            ip_rate=float(sc["ratelimit.ip.rate"]),
            ip_burst=int(sc["ratelimit.ip.burst"]),
            key_rate=float(sc["ratelimit.rate"]),
            key_burst=int(sc["ratelimit.burst"]),
            event_log=log,
        )
        records: dict[str, tuple[Any, bytes]] = {}
        self.keys: list[tuple[str, bytes]] = []
        for i in range(int(sc["clients"])):
            kid = f"ak_sim{i:04d}"
            secret = hashlib.sha256(f"{sc['seed']}:{kid}".encode()).hexdigest().encode()
            records[kid] = (KeyRecord(kid, "hmac", frozenset({"signal:read"}), 0.0), secret)
            self.keys.append((kid, secret))
        auth = build_auth(
            _SimKeyStore(io, records),
            clock,
            nonce_client=_SimNonceClient(io),
            cache_ttl=float(sc["auth.cache_ttl"]),
            event_log=log,
        )
        l1 = SimMemoryTier(
            io, make_policy(str(sc["cache.l1.policy"]), int(sc["cache.l1.capacity"])), clock=clock
        )
        self.metrics = Metrics()
        self.cache, self.breakers = build_manager(
            clock,
            l1,
            SimRemoteTier(io, name="L2", backend=str(sc["l2.backend"])),
            SimRemoteTier(io, name="L3", backend=str(sc["l3.backend"])),
            event_log=log,
            monitor=self.metrics,
            flow=flow,
        )
        connector = ReplayConnector(frames, clock, self.timeframe)
        self.connector = _ChargedConnector(
            connector, io, str(sc["exchange.key"]), data_resource, data_component
        )
        self.feed, self.engine = build_strategy(self.connector, clock, self.cache, event_log=log)
        self.pipeline = SignalPipeline(
            clock=clock,
            market_clock=clock,
            event_log=log,
            auth=auth,
            cache=self.cache,
            feed=self.feed,
            engine=self.engine,
            metrics=self.metrics,
            markets={s: self.timeframe for s in self.symbols},
            ip_limiter=ip_limiter,
            key_limiter=key_limiter,
            signal_ttl=float(sc["signal.ttl"]),
            flow=flow,
        )
        self.auth = auth
        # per-request constants, computed once: the hot path builds no key or address string
        self.overhead_key = str(sc["api.overhead_key"])
        self.addresses = [f"10.0.{c // 256}.{c % 256}" for c in range(len(self.keys))]
        self.outcomes: dict[str, int] = {}
        self.latencies: list[float] = []
        # the real code's CPU per request class, when the book measured it (sim.book): charged on the
        # simulated cores ("cpu" resource), so CPU-bound work queues and saturates
        self.cpu = {
            oc: io.model(f"cpu.signal.{oc}")
            for oc in ("hit", "miss", "rejected", "error")
            if f"cpu.signal.{oc}" in io.book
        }
        # a request that waited for its worker runs back to back with the previous one (warm): its own
        # measured class when the book has it
        self.cpu_busy = {
            oc: io.model(f"cpu.signal.{oc}.busy")
            for oc in self.cpu
            if f"cpu.signal.{oc}.busy" in io.book
        }
        self.wake = io.model("wake.lag") if "wake.lag" in io.book else None
        self.waited = False

    def call(self, rid: str, client: int, symbol: str) -> Any:
        """The request as client ``client`` sends it: its address, signed headers and body."""
        kid, secret = self.keys[client]
        body = _body(symbol, self.timeframe)
        headers = sign_request(
            kid, secret, "POST", PATH, body, timestamp_ms=int(self.clock.now() * 1000), nonce=rid
        )
        return SignalCall(rid, self.addresses[client], headers, "POST", PATH, body, symbol, self.timeframe)

    def handle(self, rid: str, client: int, symbol: str, waited: bool = False) -> tuple[int, str]:
        """The gateway's work on one request: its own overhead, then the pipeline; the HTTP status
        and the outcome (``hit``/``miss``, ``rejected`` for a 4xx, ``error`` for a 5xx).  ``waited``: it
        queued for the worker (its CPU is drawn from the back-to-back class)."""
        self.waited = waited
        io = self.io
        io.charge(None, io.draw(self.overhead_key))
        self.connector.rid = rid
        try:
            _, body = self.pipeline.handle(self.call(rid, client, symbol))
        except SupremeError as exc:  # a refusal: the status the app would answer with
            refusal = refusal_status(exc)
            status = refusal[0] if refusal is not None else 500
            return self.charge_cpu(status, "rejected" if status < 500 else "error")
        return self.charge_cpu(200, "hit" if body["meta"]["cached"] else "miss")

    def charge_cpu(self, status: int, outcome: str) -> tuple[int, str]:
        """Charge one measured request's CPU time of class ``outcome`` (if calibrated); pass through."""
        model = self.cpu_busy.get(outcome) if self.waited else None
        if model is None:
            model = self.cpu.get(outcome)
        if model is not None:
            self.io.charge("cpu", float(model.sample(self.io.rng)))
        return status, outcome


@functools.lru_cache(maxsize=64)
def _body(symbol: str, timeframe: str) -> bytes:
    return json.dumps({"symbol": symbol, "timeframe": timeframe}).encode()


class Gateway:
    """One gateway's ``workers`` worker processes over a FIFO queue of admitted requests.

    The same queueing as a :class:`simpy.Resource` of ``workers`` slots with one process per request,
    without a process, a request and a release event per request: an arrival is a tuple on a deque, and
    an idle worker waits on one event until an arrival wakes it."""

    __slots__ = ("ctx", "idle", "queue", "route", "svc")

    def __init__(self, ctx: SimContext, svc: SignalService, workers: int, route: str | None = None) -> None:
        self.ctx, self.svc, self.route = ctx, svc, route
        self.queue: deque[tuple[str, float, int, str]] = deque()
        self.idle: list[simpy.Event] = []
        for _ in range(workers):
            ctx.env.process(self.worker())

    def arrive(self, client: int, symbol: str) -> None:
        """A request reaches the gateway now: its id, its first rows, a place in the queue."""
        ctx, svc = self.ctx, self.svc
        log = ctx.log
        rid = log.next_request_id()
        if log.enabled:
            now = svc.clock.now()
            log.record(now, svc.flow, "Client", "request", request_id=rid, key=ENDPOINT)
            if self.route is not None:
                log.record(now, svc.flow, "Load_Balancer", "route", request_id=rid, detail=self.route)
        # totals from env.now: the clock's market offset (~1.4e9 s) would cost precision
        self.queue.append((rid, ctx.env._now, client, symbol))
        if self.idle:
            self.idle.pop().succeed()

    def worker(self) -> Generator[simpy.Event, Any, None]:
        """Take the oldest waiting request, run the pipeline, pay its I/O, close (:func:`serve_one`)."""
        env, queue, idle = self.ctx.env, self.queue, self.idle
        while True:
            if not queue:
                wake = env.event()
                idle.append(wake)
                yield wake
            rid, start, client, symbol = queue.popleft()
            yield from serve_one(self.ctx, self.svc, rid, start, client, symbol)


def serve_one(
    ctx: SimContext, svc: SignalService, rid: str, start: float, client: int, symbol: str
) -> Generator[simpy.Event, Any, None]:
    """One request a worker picked up (it arrived at ``start``): run the pipeline, pay its I/O, close as
    the gateway middleware does (:func:`supreme.api.pipeline.record_request`)."""
    env, io, log, clock = ctx.env, svc.io, ctx.log, svc.clock
    waited = env._now != start
    if svc.wake is not None and not waited:  # an idle worker wakes up late (measured)
        yield env.timeout(float(svc.wake.sample(io.rng)))
    io.begin()
    status, outcome = svc.handle(rid, client, symbol, waited)
    yield from io.settle(request_id=rid)
    total = env._now - start
    record_request(log, clock, svc.metrics, rid, ENDPOINT, status, total)
    if log.enabled:
        log.record(
            clock.now(),
            svc.flow,
            "Client",
            "response",
            "ok" if status < 400 else "error",
            request_id=rid,
            key=symbol,
            latency=total,
            detail=outcome,
        )
    outcomes = svc.outcomes
    outcomes[outcome] = outcomes.get(outcome, 0) + 1
    svc.latencies.append(total)


def clients(
    ctx: SimContext, svc: SignalService, sc: Mapping[str, Any], backends: int | None = None
) -> Generator[simpy.Event, Any, None]:
    """Open-loop Poisson arrivals of ``requests`` requests at one gateway, or round-robin over
    ``backends`` gateways behind a load balancer that records each route; one arrival process."""
    env, rng = ctx.env, ctx.rng
    workers = int(sc["api.workers"])
    gateways = [
        Gateway(ctx, svc, workers, None if backends is None else f"gateway-{gw}")
        for gw in range(backends or 1)
    ]
    times, who, what = signal_requests(sc, len(svc.symbols), rng)
    symbols, n_gw = svc.symbols, len(gateways)
    for i, (t, client, sym) in enumerate(zip(times.tolist(), who.tolist(), what.tolist(), strict=True)):
        if t > env._now:
            yield env.timeout(t - env._now)
        gateways[i % n_gw].arrive(client, symbols[sym])


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
