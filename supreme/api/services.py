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
                       routed by symbol
``feed``               :class:`~supreme.market.MarketDataFeed` over the connector and the cache
``engine``             :class:`~supreme.strategy.StrategyEngine` over the feed
``auth``               :class:`~supreme.api.auth.AuthService` (keys in the database, nonces and
                       sessions in Redis)
``ip_limiter``         GCRA per client address (before authentication)
``key_limiter``        GCRA per API key (after authentication)
``metrics``            :class:`~supreme.monitoring.Metrics` with its own registry
=====================  ==================================================================

Market time (the replay clock)
------------------------------
The bundled sample is daily history (1999-2018), so the feed cannot run on wall time.  The market
clock is a :class:`~supreme.clock.ScaledClock` over the service clock::

    market_now = replay_start + replay_speed * (service_now - service_start)

``replay_start`` defaults to the close of the newest recorded candle (every candle visible, the
signal is "as of" the last session) and ``replay_speed`` to 1.0, so market-side step latencies in
the event log (Strategy_Engine, Market_Data_Feed, Exchange_Connector) are real seconds.  With
``--replay-speed 86400`` a trading day passes per second and the signal's ``as_of`` moves; those
step latencies are then in *market* seconds (scaled), while the gateway's total latency — what the
SLA is judged on — is always on the service clock.  A ScaledClock (rather than a ManualClock
advanced per request) keeps concurrent requests honest: the as-of time does not depend on how many
requests arrived before.

Request ids: the feed hands its request id and flow to the cache itself
(``MarketDataFeed.get_ohlcv(..., request_id=)`` -> ``CacheManager.get(..., request_id=, flow=)``) and
the rate limiters log their own checks with the request id they are given, so neither needs an
adapter, and the strategy engine passes its request id to the feed likewise.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import pandas as pd

from supreme.api.auth import AuthService, KeyStore, ReplayGuard, SecretCipher, SessionStore
from supreme.api.ratelimit import InMemoryRateLimiter, RateLimiter, RedisRateLimiter
from supreme.cache import CacheManager, MemoryTier, RedisTier, SqlTier
from supreme.cache.tiers.base import CacheTier
from supreme.clock import Clock, ScaledClock, SystemClock
from supreme.config import ConfigError, Settings
from supreme.db import Database
from supreme.events import EventLog
from supreme.market.connector import UnknownSymbol
from supreme.market.feed import MarketDataFeed
from supreme.market.recording import open_recording, open_sample
from supreme.market.replay import ReplayConnector
from supreme.market.sample import SAMPLE_TIMEFRAME, sample_symbols
from supreme.market.timeframes import timeframe_ms
from supreme.monitoring.metrics import Metrics
from supreme.resilience.breaker import CallNotPermitted, CircuitBreaker
from supreme.strategy.engine import StrategyEngine

__all__ = ["MarketInfo", "RoutingConnector", "Services", "parse_replay_start"]

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class MarketInfo:
    """One replayed market: its timeframe, recorded span and provenance."""

    symbol: str
    timeframe: str
    first_ms: int
    last_close_ms: int
    source: str


class RoutingConnector:
    """An exchange connector over several replay connectors, one per symbol (each its own timeframe)."""

    def __init__(self, connectors: Mapping[str, ReplayConnector], name: str = "replay") -> None:
        self.name = name
        self._by_symbol = dict(connectors)

    @property
    def symbols(self) -> list[str]:
        """Every routed symbol."""
        return sorted(self._by_symbol)

    @property
    def timeframes(self) -> list[str]:
        """Every recorded timeframe."""
        return sorted({c.timeframe for c in self._by_symbol.values()})

    def _of(self, symbol: str) -> ReplayConnector:
        try:
            return self._by_symbol[symbol]
        except KeyError:
            raise UnknownSymbol(f"{self.name}: no market {symbol!r}; have {self.symbols}") from None

    def last_closed_ms(self, symbol: str, timeframe: str | None = None) -> int | None:
        """Open time of the newest visible candle of ``symbol``."""
        return self._of(symbol).last_closed_ms(symbol, timeframe)

    def fetch_ohlcv(self, symbol: str, timeframe: str = "1m", since: int | None = None,
                    limit: int | None = None) -> list[list[float]]:
        """Candles of ``symbol`` from its replay connector."""
        return self._of(symbol).fetch_ohlcv(symbol, timeframe, since, limit)

    def fetch_trades(self, symbol: str, since: int | None = None, limit: int | None = None) -> list[Any]:
        """Trades of ``symbol`` (none are recorded for candle files)."""
        return self._of(symbol).fetch_trades(symbol, since, limit)

    def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        """Ticker of ``symbol``."""
        return self._of(symbol).fetch_ticker(symbol)


def parse_replay_start(text: str | float | None) -> float | None:
    """Replay start as epoch seconds from a number or an ISO date/time (UTC when no zone is given)."""
    if text is None or isinstance(text, (int, float)):
        return None if text is None else float(text)
    value = text.strip()
    if re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value):
        return float(value)
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--replay-start must be epoch seconds or an ISO date, got {text!r}") from exc
    if stamp is pd.NaT:
        raise ConfigError(f"--replay-start must be epoch seconds or an ISO date, got {text!r}")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return float(stamp.timestamp())


def _breaker(name: str, clock: Clock, metrics: Metrics, event_log: EventLog) -> CircuitBreaker:
    # Only connectivity counts as failure; after 5 calls at >= 50 % failures the tier is skipped for 5 s.
    return CircuitBreaker(
        name, clock=clock, event_log=event_log, monitor=metrics, record_calls=False,
        failure_rate_threshold=50.0, sliding_window_size=20, minimum_number_of_calls=5,
        wait_duration_in_open=5.0, permitted_calls_in_half_open=2,
        automatic_transition_from_open_to_half_open=True, record_exceptions=(ConnectionError,),
    )


@dataclass
class Services:
    """Everything the gateway needs; build with :meth:`from_settings`, release with :meth:`close`."""

    settings: Settings
    clock: Clock
    market_clock: Clock
    event_log: EventLog
    cache: CacheManager
    feed: MarketDataFeed
    engine: StrategyEngine
    auth: AuthService
    metrics: Metrics
    markets: dict[str, MarketInfo]
    ip_limiter: RateLimiter | None = None
    key_limiter: RateLimiter | None = None
    breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
    signal_ttl: float = 86_400.0
    max_body_bytes: int = 16 * 1024
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def remote_tiers(self) -> list[CacheTier]:
        """The cache's L2/L3 tiers (for readiness probes)."""
        return [t for t in self.cache.tiers if isinstance(t, CacheTier)]

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        clock: Clock | None = None,
        *,
        market_clock: Clock | None = None,
        replay_start: float | str | None = None,
        replay_speed: float = 1.0,
        recorded: Sequence[str | Path] = (),
        symbols: Iterable[str] | None = None,
        event_log: EventLog | None = None,
        redis_client: Any = None,
        cache_redis_url: str | None = None,
        database_url: str | None = None,
        namespace: str = "supreme:",
        l1_policy: str = "lru",
        l1_capacity: int = 10_000,
        ip_rate: float = 1000.0,
        ip_burst: int = 2000,
        key_rate: float = 500.0,
        key_burst: int = 1000,
        recv_window_ms: int = 5000,
        session_ttl: float = 900.0,
        max_body_bytes: int = 16 * 1024,
    ) -> Services:
        """Build the services.

        ``redis_client`` (a redis-py compatible client) overrides ``SUPREME_REDIS_URL`` for L2, nonces,
        sessions and rate limits; ``cache_redis_url`` overrides the L2 tier alone (e.g. to point it at a
        dead port); ``database_url`` overrides ``SUPREME_DATABASE_URL`` for L3 and the key store.
        """
        clock = clock if clock is not None else SystemClock()
        if event_log is None:
            event_log = EventLog(world="real", enabled=settings.log_events)
        closers: list[Callable[[], None]] = []
        metrics = Metrics()

        # -- market data: the sample plus recordings, one replay connector per symbol ------------
        frames: dict[str, tuple[pd.DataFrame, str, str]] = {}
        wanted = list(symbols) if symbols is not None else sample_symbols()
        recordings = chain((open_sample(sym, timeframe=SAMPLE_TIMEFRAME) for sym in wanted),
                           (open_recording(path) for path in recorded))
        for rec in recordings:  # one by one: the first bad recording is the one reported
            if rec.timeframe is None:
                raise ConfigError(f"cannot infer the timeframe of recording {rec.source}")
            frames[rec.symbol] = (rec.frame, rec.timeframe, rec.source)
        if not frames:
            raise ConfigError("no market data: give the sample symbols or at least one recorded file")
        markets: dict[str, MarketInfo] = {}
        for sym, (frame, tf, source) in frames.items():
            ts = frame["timestamp"].to_numpy()
            markets[sym] = MarketInfo(sym, tf, int(ts[0]), int(ts[-1]) + timeframe_ms(tf), source)
        start = parse_replay_start(replay_start)
        if market_clock is None:
            if start is None:
                start = max(m.last_close_ms for m in markets.values()) / 1000.0
            market_clock = ScaledClock(start, replay_speed, base=clock)
        connectors = {sym: ReplayConnector({sym: fr}, market_clock, tf, name=f"replay:{sym}")
                      for sym, (fr, tf, _) in frames.items()}
        connector = RoutingConnector(connectors)

        # -- cache: L1 memory, L2 Redis, L3 SQL, each remote tier behind a breaker -----------------
        if redis_client is None:
            if settings.redis_url:
                import redis

                redis_client = redis.Redis.from_url(settings.redis_url, socket_timeout=1.0,
                                                    socket_connect_timeout=1.0)
                closers.append(redis_client.close)
            else:
                import fakeredis

                redis_client = fakeredis.FakeRedis()
        if cache_redis_url is not None:
            l2 = RedisTier.from_url(cache_redis_url, namespace=f"{namespace}cache:")
        else:
            l2 = RedisTier(redis_client, namespace=f"{namespace}cache:")
        db_url = database_url or settings.database_url
        if not db_url:
            raise ConfigError("no database URL: set SUPREME_DATABASE_URL or pass database_url")
        l3 = SqlTier(db_url, clock=clock, namespace=namespace)
        breakers = {name: _breaker(f"cache_{name}", clock, metrics, event_log) for name in ("L2", "L3")}
        cache = CacheManager(
            MemoryTier(l1_policy, clock=clock, capacity=l1_capacity), l2, l3, clock=clock,
            event_log=event_log, default_ttl=86_400.0, flow="trading_signal",
            guards={name: br.call for name, br in breakers.items()}, unavailable_errors=(CallNotPermitted,),
        )
        closers.append(cache.close)

        feed = MarketDataFeed(connector, market_clock, cache=cache, event_log=event_log, exchange="replay")
        engine = StrategyEngine(feed, market_clock, event_log=event_log)

        # -- auth: keys in the database, nonces and sessions in Redis --------------------------------
        key_db = Database.from_url(db_url)
        closers.append(key_db.close)
        cipher = SecretCipher(settings.master_key) if settings.master_key is not None else None
        auth = AuthService(
            KeyStore(key_db, clock, cipher), clock, replay=ReplayGuard(redis_client, namespace),
            sessions=SessionStore(redis_client, clock, namespace=namespace, ttl=session_ttl,
                                  event_log=event_log),
            recv_window_ms=recv_window_ms, event_log=event_log,
        )
        ip_limiter: RateLimiter
        key_limiter: RateLimiter
        try:
            ip_limiter = RedisRateLimiter(redis_client, ip_rate, ip_burst, clock, namespace=namespace,
                                          name="ip", event_log=event_log)
            key_limiter = RedisRateLimiter(redis_client, key_rate, key_burst, clock, namespace=namespace,
                                           name="key", event_log=event_log)
        except Exception as exc:  # a client without scripting support: keep limits per process
            log.warning("rate limits kept in process memory (%s: %s)", type(exc).__name__, exc)
            ip_limiter = InMemoryRateLimiter(ip_rate, ip_burst, clock, name="ip", event_log=event_log)
            key_limiter = InMemoryRateLimiter(key_rate, key_burst, clock, name="key", event_log=event_log)
        return cls(
            settings=settings, clock=clock, market_clock=market_clock, event_log=event_log, cache=cache,
            feed=feed, engine=engine, auth=auth, metrics=metrics, markets=markets, ip_limiter=ip_limiter,
            key_limiter=key_limiter, breakers=breakers, max_body_bytes=max_body_bytes, _closers=closers,
        )

    def close(self) -> None:
        """Close tiers, pools and clients (idempotent; errors are logged, not raised)."""
        closers, self._closers = self._closers, []
        for close in reversed(closers):
            try:
                close()
            except Exception as exc:  # closing a dead connection must not hide the others
                log.warning("closing %r failed: %s", close, exc)

