"""Small builders that the service, the replay pipeline and the simulation share.

One place says how a remote cache tier is guarded (its circuit breaker) and how the cache hierarchy
is put together (L1 memory, L2 Redis, L3 SQL, each remote tier behind its breaker), so every world
that runs the signal path runs the same composition.
"""

from __future__ import annotations

from typing import Any

from supreme.cache import CacheManager, MemoryTier, RedisTier, SqlTier
from supreme.clock import Clock
from supreme.events import NULL_LOG, EventLog
from supreme.resilience.breaker import BreakerMonitor, CallNotPermitted, CircuitBreaker

__all__ = ["build_hierarchy", "redis_client", "tier_breaker"]


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


def redis_client(url: str | None) -> Any:
    """A redis-py client for ``url`` (short timeouts), or a private fakeredis when ``url`` is None."""
    if url:
        import redis

        return redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    import fakeredis

    return fakeredis.FakeRedis()


def build_hierarchy(clock: Clock, redis: Any, database_url: str, *, l1_policy: str = "lru",
                    l1_capacity: int = 10_000, l1_unit: str = "entries",
                    namespace: str = "supreme:", cache_redis_url: str | None = None,
                    event_log: EventLog = NULL_LOG, monitor: BreakerMonitor | None = None,
                    default_ttl: float | None = 86_400.0, flow: str = "trading_signal",
                    ) -> tuple[CacheManager, dict[str, CircuitBreaker]]:
    """L1 memory, L2 Redis (``redis`` client, or ``cache_redis_url``), L3 SQL, each remote tier behind
    its breaker; returns the manager and the breakers by tier."""
    breakers = {name: tier_breaker(f"cache_{name}", clock, monitor=monitor, event_log=event_log)
                for name in ("L2", "L3")}
    if cache_redis_url is not None:
        l2 = RedisTier.from_url(cache_redis_url, namespace=f"{namespace}cache:")
    else:
        l2 = RedisTier(redis, namespace=f"{namespace}cache:")
    l3 = SqlTier(database_url, clock=clock, namespace=namespace)
    l1 = MemoryTier(l1_policy, clock=clock, capacity=l1_capacity, unit=l1_unit)
    manager = CacheManager(
        l1, l2, l3, clock=clock, event_log=event_log, default_ttl=default_ttl, flow=flow,
        guards={name: br.call for name, br in breakers.items()}, unavailable_errors=(CallNotPermitted,),
    )
    return manager, breakers
