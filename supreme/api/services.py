"""The signal service's parts, built once from :class:`~supreme.config.Settings` and shared by the app.

=====================  ==================================================================
part                   built from
=====================  ==================================================================
``clock``              the *service* clock (``SystemClock``): latencies, rate limits,
                       signature timestamps, sessions, cache TTLs, breaker waits
``market_clock``       the *replay* clock (see below): what "now" is for the market data
``event_log``          one shared :class:`~supreme.events.EventLog` (``SUPREME_LOG_EVENTS``)
``cache``              :class:`~supreme.cache.CacheManager`: L1 memory, L2 Redis
                       (``SUPREME_REDIS_URL``, else fakeredis), L3 SQL
                       (``SUPREME_DATABASE_URL``, else SQLite), each remote tier behind a
                       :class:`~supreme.resilience.breaker.CircuitBreaker`
``connector``          a :class:`~supreme.market.ReplayConnector` per recording (the bundled
                       arch S&P 500 / NASDAQ daily sample, plus optional recorded files),
                       routed by symbol (:mod:`supreme.api.markets`); or, with ``live_connector``,
                       a live exchange (``serve --live``: CcxtConnector) on the service clock
``feed``               :class:`~supreme.market.MarketDataFeed` over the connector and the cache
``engine``             :class:`~supreme.strategy.StrategyEngine` (``signal_path="frame"``, the default:
                       a DataFrame per miss through the OHLCV cache) or
                       :class:`~supreme.strategy.window_engine.WindowEngine` (``"window"``: the
                       feed's candle windows, as the replay pipeline; market data then skips the
                       cache); the same signals
``auth``               :class:`~supreme.api.auth.AuthService` (keys in the database, nonces and
                       sessions in Redis)
``ip_limiter``         GCRA per client address (before authentication)
``key_limiter``        GCRA per API key (after authentication)
``metrics``            :class:`~supreme.monitoring.Metrics` with its own registry
``pipeline``           :class:`~supreme.api.pipeline.SignalPipeline` over the parts above
``adaptive``           :class:`~supreme.adaptive.AdaptiveLayer` on the cache manager
                       (``SUPREME_ADAPTIVE``: market-data keys by default; see
                       :mod:`supreme.adaptive.live`), adaptations in the event log and /metrics
``resilience``         :class:`~supreme.api.resilience.ServiceResilience`: ErrorRecovery (reconnect)
                       driving the L2/L3 breakers, ErrorHandler, AlertManager (escalation on the
                       clock, ``GET /api/v1/alerts``), alert and pool gauges; stepped by an asyncio
                       task in the app's lifespan.  Every L2/L3 call is ``Retry`` around its breaker
                       (``retry_attempts``)
=====================  ==================================================================

Each part comes from a small builder of :mod:`supreme.builders` (``build_hierarchy``,
``build_strategy``, ``build_auth``, ``build_limiters``) that the SimPy models of the signal flow use
too, with simulated back-ends in place of the real ones.

Market time: the replay clock of :mod:`supreme.api.markets`.

Request ids: the feed hands its request id and flow to the cache itself
(``MarketDataFeed.get_ohlcv(..., request_id=)`` -> ``CacheManager.get(..., request_id=, flow=)``) and
the rate limiters log their own checks with the request id they are given, so neither needs an
adapter, and the strategy engine passes its request id to the feed likewise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supreme.adaptive.layer import AdaptiveLayer
from supreme.adaptive.live import AdaptiveCollector, live_adaptive
from supreme.api.auth import AuthService, KeyStore, SecretCipher
from supreme.api.markets import MarketInfo, live_markets, open_markets
from supreme.api.pipeline import SignalPipeline
from supreme.api.ratelimit import RateLimiter
from supreme.api.resilience import ServiceResilience
from supreme.builders import build_auth, build_hierarchy, build_limiters, build_strategy, redis_client
from supreme.cache import CacheManager
from supreme.cache.tiers.base import CacheTier
from supreme.clock import Clock, SystemClock
from supreme.config import ConfigError, Settings
from supreme.db import Database
from supreme.events import EventLog
from supreme.market.feed import MarketDataFeed
from supreme.monitoring.metrics import Metrics
from supreme.resilience.breaker import CircuitBreaker
from supreme.strategy.engine import StrategyEngine
from supreme.strategy.window_engine import WindowEngine

__all__ = ["ServiceOptions", "Services"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceOptions:
    """The tunables of :meth:`Services.from_settings`, each with its default.

    ``cache_redis_url`` points the L2 tier alone elsewhere (e.g. at a dead port); ``database_url``
    overrides ``SUPREME_DATABASE_URL`` for L3 and the key store; ``symbols`` limits the bundled
    samples served, ``recorded`` adds OHLCV files (see :func:`supreme.api.markets.open_markets`).
    """

    replay_start: float | str | None = None
    replay_speed: float = 1.0
    recorded: Sequence[str | Path] = ()
    symbols: Iterable[str] | None = None
    cache_redis_url: str | None = None
    database_url: str | None = None
    namespace: str = "supreme:"
    l1_policy: str = "lru"
    l1_capacity: int = 10_000
    ip_rate: float = 1000.0
    ip_burst: int = 2000
    key_rate: float = 500.0
    key_burst: int = 1000
    recv_window_ms: int = 5000
    session_ttl: float = 900.0
    max_body_bytes: int = 16 * 1024
    retry_attempts: int = 2
    resilience_interval: float = 0.5
    adaptive_cycle: float = 60.0
    signal_path: str = "frame"
    live_connector: Any = None
    live_symbols: Sequence[str] = ()
    live_timeframe: str = "1m"


@dataclass
class Services:
    """Everything the gateway needs; build with :meth:`from_settings`, release with :meth:`close`."""

    settings: Settings
    clock: Clock
    market_clock: Clock
    event_log: EventLog
    cache: CacheManager
    feed: MarketDataFeed
    engine: StrategyEngine | WindowEngine
    auth: AuthService
    metrics: Metrics
    markets: dict[str, MarketInfo]
    ip_limiter: RateLimiter | None = None
    key_limiter: RateLimiter | None = None
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
    resilience: ServiceResilience | None = None
    adaptive: AdaptiveLayer | None = None
    signal_ttl: float = 86_400.0
    max_body_bytes: int = 16 * 1024
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)
    _pipeline: SignalPipeline | None = field(default=None, repr=False)

    @property
    def remote_tiers(self) -> list[CacheTier]:
        """The cache's L2/L3 tiers (for readiness probes)."""
        return [t for t in self.cache.tiers if isinstance(t, CacheTier)]

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock | None = None, *,
                      market_clock: Clock | None = None, event_log: EventLog | None = None,
                      redis_client: Any = None, **options: Any) -> Services:
        """Build the services; ``options`` are :class:`ServiceOptions` fields.

        ``redis_client`` (a redis-py compatible client) overrides ``SUPREME_REDIS_URL`` for L2, nonces,
        sessions and rate limits; ``market_clock`` replaces the replay clock built from
        ``replay_start`` and ``replay_speed``.
        """
        opts = ServiceOptions(**options)
        clock = clock if clock is not None else SystemClock()
        if event_log is None:
            event_log = EventLog(world="real", enabled=settings.log_events)
        closers: list[Callable[[], None]] = []
        metrics = Metrics(process_collectors=True)
        if opts.live_connector is not None:  # a live exchange: market time is the service clock
            replay = live_markets(opts.live_connector, market_clock or clock, opts.live_symbols,
                                  opts.live_timeframe)
        else:
            replay = open_markets(clock, opts.symbols, opts.recorded, market_clock=market_clock,
                                  replay_start=opts.replay_start, replay_speed=opts.replay_speed)
        if redis_client is None:
            redis_client = _redis_client(settings, closers)
        db_url = opts.database_url or settings.database_url
        if not db_url:
            raise ConfigError("no database URL: set SUPREME_DATABASE_URL or pass database_url")
        observer, layer = live_adaptive(settings.adaptive, clock, capacity=opts.l1_capacity,
                                        policy=opts.l1_policy, cycle_seconds=opts.adaptive_cycle,
                                        event_log=event_log)
        if layer is not None:
            metrics.registry.register(AdaptiveCollector(layer, metrics.prefix))
        cache, breakers = build_hierarchy(clock, redis_client, db_url, l1_policy=opts.l1_policy,
                                          l1_capacity=opts.l1_capacity, namespace=opts.namespace,
                                          cache_redis_url=opts.cache_redis_url, event_log=event_log,
                                          monitor=metrics, retry_attempts=opts.retry_attempts,
                                          adaptive=observer)
        closers.append(cache.close)
        feed, frame_engine = build_strategy(replay.connector, replay.clock, cache, event_log=event_log,
                                            exchange=getattr(replay.connector, "name", "replay"))
        if opts.signal_path not in ("window", "frame"):
            raise ConfigError(f"signal_path must be 'window' or 'frame', got {opts.signal_path!r}")
        engine: StrategyEngine | WindowEngine = (WindowEngine.like(frame_engine, feed)
                                                 if opts.signal_path == "window" else frame_engine)
        key_db = Database.from_url(db_url)
        closers.append(key_db.close)
        cipher = SecretCipher(settings.master_key) if settings.master_key is not None else None
        auth = build_auth(KeyStore(key_db, clock, cipher), clock, nonce_client=redis_client,
                          session_client=redis_client, namespace=opts.namespace, session_ttl=opts.session_ttl,
                          recv_window_ms=opts.recv_window_ms, event_log=event_log)
        ip_limiter, key_limiter = build_limiters(clock, ip_rate=opts.ip_rate, ip_burst=opts.ip_burst,
                                                 key_rate=opts.key_rate, key_burst=opts.key_burst,
                                                 redis=redis_client, namespace=opts.namespace,
                                                 event_log=event_log)
        tiers = {t.name: t for t in cache.tiers if isinstance(t, CacheTier)}
        resilience = ServiceResilience.build(clock, metrics, breakers, tiers, event_log=event_log,
                                             interval=opts.resilience_interval, redis=redis_client,
                                             databases={"keys": lambda: key_db,
                                                        "L3": lambda: getattr(tiers.get("L3"), "_db", None)})
        if observer is not None:
            resilience.periodic.append(observer.maybe_run)  # learning cycles on the clock, idle or not
        return cls(
            settings=settings, clock=clock, market_clock=replay.clock, event_log=event_log, cache=cache,
            feed=feed, engine=engine, auth=auth, metrics=metrics, markets=replay.markets,
            ip_limiter=ip_limiter, key_limiter=key_limiter, breakers=breakers, resilience=resilience,
            adaptive=layer, max_body_bytes=opts.max_body_bytes, _closers=closers,
        )

    @property
    def pipeline(self) -> SignalPipeline:
        """The :class:`~supreme.api.pipeline.SignalPipeline` over these parts (built once)."""
        if self._pipeline is None:
            self._pipeline = SignalPipeline(
                clock=self.clock, market_clock=self.market_clock, event_log=self.event_log, auth=self.auth,
                cache=self.cache, feed=self.feed, engine=self.engine, metrics=self.metrics,
                markets={m.symbol: m.timeframe for m in self.markets.values()},
                ip_limiter=self.ip_limiter, key_limiter=self.key_limiter, signal_ttl=self.signal_ttl)
        return self._pipeline

    def close(self) -> None:
        """Close tiers, pools and clients (idempotent; errors are logged, not raised)."""
        closers, self._closers = self._closers, []
        for close in reversed(closers):
            try:
                close()
            except Exception as exc:  # closing a dead connection must not hide the others
                log.warning("closing %r failed: %s", close, exc)


def _redis_client(settings: Settings, closers: list[Callable[[], None]]) -> Any:
    """``SUPREME_REDIS_URL`` (closed with the services), else a private fakeredis."""
    client = redis_client(settings.redis_url)
    if settings.redis_url:
        closers.append(client.close)
    return client
