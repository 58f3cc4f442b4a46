"""Connection-pool state and checkout with our errors, over psycopg_pool and redis-py's pools.

Seed diagram "Multi-Tier Connection Pool Management": Available_Queue / Active_Set / queued
requests map to the libraries' own bookkeeping — we own no pool.  This module only (a) reads a
pool's state as :class:`PoolStats` (in use / idle / waiting) for Monitoring, and (b) checks a
connection out with a timeout, turning the libraries' "pool at maximum" errors into our
:class:`PoolTimeout`.

Pools wait in real time (their own locks and conditions); that is the libraries' time, not ours.

Exceptions::

    SupremeError
    └── PoolTimeout   (also TimeoutError) no connection became free within the timeout
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from supreme.errors import SupremeError
from supreme.events import NULL_LOG, EventLog

__all__ = ["PoolStats", "PoolTimeout", "pg_connection", "pg_pool_stats", "redis_connection",
           "redis_pool_stats"]

FLOW = "connection_pool"


class PoolTimeout(SupremeError, TimeoutError):
    """No pooled connection was free within the timeout; names the pool and the limit."""


@dataclass(frozen=True)
class PoolStats:
    """A pool's occupancy: connections handed out, idle in the pool, and callers waiting."""

    name: str
    in_use: int
    idle: int
    waiting: int
    max_size: int

    def as_dict(self) -> dict[str, int]:
        """The counts by state (what Monitoring exports)."""
        return {"in_use": self.in_use, "idle": self.idle, "waiting": self.waiting}


def pg_pool_stats(pool: Any, name: str | None = None) -> PoolStats:
    """State of a ``psycopg_pool.ConnectionPool`` from its ``get_stats()``."""
    st = pool.get_stats()
    size = int(st.get("pool_size", 0))
    idle = int(st.get("pool_available", 0))
    return PoolStats(name or pool.name, max(0, size - idle), idle, int(st.get("requests_waiting", 0)),
                     int(pool.max_size))


def redis_pool_stats(pool: Any, name: str = "redis") -> PoolStats:
    """State of a redis-py ``ConnectionPool`` or ``BlockingConnectionPool``."""
    idle = len(pool._get_free_connections())
    in_use = len(pool._get_in_use_connections())
    waiting = 0
    queue = getattr(pool, "pool", None)  # BlockingConnectionPool's LifoQueue
    if queue is not None:
        # redis-py counts no waiters; the queue's condition holds one entry per blocked getter
        waiting = len(getattr(queue.not_empty, "_waiters", ()))
    return PoolStats(name, in_use, idle, waiting, int(pool.max_connections))


@contextmanager
def pg_connection(pool: Any, timeout: float, *, event_log: EventLog = NULL_LOG,
                  now: float = 0.0) -> Iterator[Any]:
    """``pool.connection(timeout=...)`` raising :class:`PoolTimeout` when the pool stays full."""
    import psycopg_pool

    try:
        cm = pool.connection(timeout=timeout)
        conn = cm.__enter__()
    except psycopg_pool.PoolTimeout as exc:
        event_log.record(now, FLOW, "Pool_Manager", "acquire", "timeout", key=pool.name)
        raise PoolTimeout(f"PostgreSQL pool {pool.name!r}: no connection free within {timeout}s "
                          f"(max_size={pool.max_size})") from exc
    event_log.record(now, FLOW, "Pool_Manager", "acquire", "ok", key=pool.name)
    try:
        yield conn
    except BaseException as exc:
        if not cm.__exit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        cm.__exit__(None, None, None)


@contextmanager
def redis_connection(pool: Any, *, event_log: EventLog = NULL_LOG, now: float = 0.0,
                     name: str = "redis") -> Iterator[Any]:
    """Check a raw connection out of a redis-py pool (its own timeout) and give it back."""
    import redis

    try:
        conn = pool.get_connection()
    except redis.ConnectionError as exc:
        if "No connection available" not in str(exc):
            raise
        event_log.record(now, FLOW, "Pool_Manager", "acquire", "timeout", key=name)
        raise PoolTimeout(f"Redis pool {name!r}: no connection free within "
                          f"{getattr(pool, 'timeout', None)}s (max_connections={pool.max_connections})"
                          ) from exc
    event_log.record(now, FLOW, "Pool_Manager", "acquire", "ok", key=name)
    try:
        yield conn
    finally:
        pool.release(conn)
