"""Small builders that the service, the replay pipeline and the simulation share.

One place says how a remote cache tier is guarded (its circuit breaker), how the cache hierarchy
is put together (L1 memory, L2 Redis, L3 SQL, each remote tier behind its breaker), how the rate
limiters, the auth service and the strategy path (feed, engine) are composed, so every world that
runs the signal path runs the same composition.  A world chooses the back-ends (real tiers and
stores, or simulated ones) and hands them in; :class:`supreme.api.services.Services` and the SimPy
models of the signal flow both build through these functions.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from supreme.cache import CacheManager, MemoryTier, RedisTier, SqlTier
from supreme.cache.tiers.base import CacheTier
from supreme.clock import Clock
from supreme.events import NULL_LOG, EventLog
from supreme.resilience.breaker import BreakerMonitor, CallNotPermitted, CircuitBreaker
from supreme.resilience.retry import Retry

if TYPE_CHECKING:
    from supreme.api.auth import AuthService
    from supreme.api.ratelimit import RateLimiter
    from supreme.market.connector import ExchangeConnector
    from supreme.market.feed import MarketDataFeed
    from supreme.strategy.engine import StrategyEngine

__all__ = ["build_auth", "build_hierarchy", "build_limiters", "build_manager", "build_strategy",
           "exchange_retry", "in_process_redis", "redis_client", "tier_breaker", "tier_retry"]

log = logging.getLogger(__name__)


def tier_breaker(name: str, clock: Clock, *, monitor: BreakerMonitor | None = None,
                 event_log: EventLog = NULL_LOG) -> CircuitBreaker:
    """The breaker in front of one remote cache tier."""
    # Only connectivity counts as failure; after 5 calls at >= 50 % failures the tier is skipped for 5 s.
    return CircuitBreaker(
        name, clock=clock, event_log=event_log, monitor=monitor, record_calls=False,
        failure_rate_threshold=50.0, sliding_window_size=20, minimum_number_of_calls=5,
        wait_duration_in_open=5.0, permitted_calls_in_half_open=2,
        automatic_transition_from_open_to_half_open=True, record_exceptions=(ConnectionError,),
    )


def exchange_retry(clock: Clock, *, event_log: EventLog = NULL_LOG, seed: int = 0,
                   attempts: int = 3) -> Retry:
    """Retry of exchange-connector calls behind the ``exchange`` breaker (both fault worlds use it):
    ``ExchangeUnavailable`` (ccxt network errors and rate limits) is retried with full-jitter backoff
    of 0.25 s doubling to at most 2 s; after 5 calls at >= 50 % failures the exchange is skipped for
    10 s."""
    from supreme.market.connector import ExchangeUnavailable

    breaker = CircuitBreaker(
        "exchange", clock=clock, event_log=event_log, record_calls=False,
        failure_rate_threshold=50.0, sliding_window_size=10, minimum_number_of_calls=5,
        wait_duration_in_open=10.0, permitted_calls_in_half_open=1,
        automatic_transition_from_open_to_half_open=True, record_exceptions=(ExchangeUnavailable,),
    )
    return Retry(attempts, base=0.25, cap=2.0, retryable=lambda e: isinstance(e, ExchangeUnavailable),
                 seed=seed, clock=clock, breaker=breaker, event_log=event_log, name="retry_exchange")


def redis_client(url: str | None) -> Any:
    """A redis-py client for ``url`` (short timeouts), or a private fakeredis when ``url`` is None."""
    if url:
        import redis

        return redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    import fakeredis

    return fakeredis.FakeRedis()


def in_process_redis(client: Any) -> bool:
    """True for a fakeredis client: its data lives in this process only."""
    return type(client).__module__.split(".", 1)[0] == "fakeredis"


def build_hierarchy(clock: Clock, redis: Any, database_url: str, *, l1_policy: str = "lru",
                    l1_capacity: int = 10_000, l1_unit: str = "entries",
                    namespace: str = "supreme:", cache_redis_url: str | None = None,
                    event_log: EventLog = NULL_LOG, monitor: BreakerMonitor | None = None,
                    default_ttl: float | None = 86_400.0, flow: str = "trading_signal",
                    retry_attempts: int = 1, adaptive: Any = None,
                    ) -> tuple[CacheManager, dict[str, CircuitBreaker]]:
    """L1 memory, L2 Redis (``redis`` client, or ``cache_redis_url``), L3 SQL, each remote tier behind
    its breaker; returns the manager and the breakers by tier."""
    if cache_redis_url is not None:
        l2 = RedisTier.from_url(cache_redis_url, namespace=f"{namespace}cache:")
    else:
        l2 = RedisTier(redis, namespace=f"{namespace}cache:")
    l3 = SqlTier(database_url, clock=clock, namespace=namespace)
    l1 = MemoryTier(l1_policy, clock=clock, capacity=l1_capacity, unit=l1_unit)
    return build_manager(clock, l1, l2, l3, event_log=event_log, monitor=monitor, default_ttl=default_ttl,
                         flow=flow, retry_attempts=retry_attempts, adaptive=adaptive)


def build_manager(clock: Clock, l1: Any, l2: CacheTier, l3: CacheTier, *, event_log: EventLog = NULL_LOG,
                  monitor: BreakerMonitor | None = None, default_ttl: float | None = 86_400.0,
                  flow: str = "trading_signal",
                  retry_attempts: int = 1, adaptive: Any = None,
                  ) -> tuple[CacheManager, dict[str, CircuitBreaker]]:
    """The manager over given tiers (real or simulated), each remote tier behind its breaker; with
    ``retry_attempts`` > 1 every tier call is a :func:`tier_retry` around the breaker; ``adaptive``
    (an AccessObserver such as the adaptive layer) learns from every get."""
    breakers = {name: tier_breaker(f"cache_{name}", clock, monitor=monitor, event_log=event_log)
                for name in ("L2", "L3")}
    guards = {name: (tier_retry(br, clock, retry_attempts, event_log=event_log, seed=i).call
                     if retry_attempts > 1 else br.call)
              for i, (name, br) in enumerate(breakers.items())}
    manager = CacheManager(
        l1, l2, l3, clock=clock, event_log=event_log, default_ttl=default_ttl, flow=flow,
        guards=guards, unavailable_errors=(CallNotPermitted,), adaptive=adaptive,
    )
    return manager, breakers


def _connectivity(exc: BaseException) -> bool:
    """Only a lost connection is worth retrying (never a refusing breaker or a bad value)."""
    return isinstance(exc, ConnectionError) and not isinstance(exc, CallNotPermitted)


def tier_retry(breaker: CircuitBreaker, clock: Clock, attempts: int = 2, *, event_log: EventLog = NULL_LOG,
               seed: int = 0) -> Retry:
    """Retry of one remote tier's calls through its breaker: full-jitter backoff of at most 20 ms,
    connectivity errors only, stopping as soon as the breaker opens."""
    return Retry(attempts, base=0.005, cap=0.02, retryable=_connectivity, seed=seed, clock=clock,
                 breaker=breaker, event_log=event_log, name=f"retry_{breaker.name}")


def build_limiters(clock: Clock, *, ip_rate: float, ip_burst: int, key_rate: float, key_burst: int,
                   redis: Any = None, namespace: str = "supreme:",
                   event_log: EventLog = NULL_LOG) -> tuple[RateLimiter, RateLimiter]:
    """Per-address and per-key GCRA limiters: shared through ``redis`` when given and it runs Lua,
    else kept in process memory.

    An in-process fakeredis shares nothing with other processes, so its limits are kept in process
    memory too (the same GCRA decisions, without the ~0.3 ms Lua emulation per check)."""
    from supreme.api.ratelimit import InMemoryRateLimiter, RedisRateLimiter

    if redis is not None and not in_process_redis(redis):
        try:
            return (RedisRateLimiter(redis, ip_rate, ip_burst, clock, namespace=namespace, name="ip",
                                     event_log=event_log),
                    RedisRateLimiter(redis, key_rate, key_burst, clock, namespace=namespace, name="key",
                                     event_log=event_log))
        except Exception as exc:  # a client without scripting support: keep limits per process
            log.warning("rate limits kept in process memory (%s: %s)", type(exc).__name__, exc)
    return (InMemoryRateLimiter(ip_rate, ip_burst, clock, name="ip", event_log=event_log),
            InMemoryRateLimiter(key_rate, key_burst, clock, name="key", event_log=event_log))


def build_auth(key_store: Any, clock: Clock, *, nonce_client: Any = None, session_client: Any = None,
               namespace: str = "supreme:", session_ttl: float = 900.0, recv_window_ms: int = 5000,
               cache_ttl: float = 5.0, event_log: EventLog = NULL_LOG) -> AuthService:
    """Auth_Service over a key store (rows in a database, or simulated ones), nonces in
    ``nonce_client`` and sessions in ``session_client`` (redis-py compatible; fakeredis when None)."""
    from supreme.api.auth import AuthService, ReplayGuard, SessionStore

    return AuthService(
        key_store, clock, replay=ReplayGuard(nonce_client, namespace),
        sessions=SessionStore(session_client, clock, namespace=namespace, ttl=session_ttl,
                              event_log=event_log),
        recv_window_ms=recv_window_ms, cache_ttl=cache_ttl, event_log=event_log,
    )


def build_strategy(connector: ExchangeConnector, market_clock: Clock, cache: Any, *,
                   event_log: EventLog = NULL_LOG,
                   exchange: str = "replay") -> tuple[MarketDataFeed, StrategyEngine]:
    """Market_Data_Feed over ``connector`` through ``cache``, and the Strategy_Engine over the feed,
    both on the market clock."""
    from supreme.market.feed import MarketDataFeed
    from supreme.strategy.engine import StrategyEngine

    feed = MarketDataFeed(connector, market_clock, cache=cache, event_log=event_log, exchange=exchange)
    return feed, StrategyEngine(feed, market_clock, event_log=event_log)
