"""L2: a Redis byte store through redis-py (or fakeredis in process when no URL is given).

Keys live under a namespace prefix; a TTL is sent as ``SET … PX <ms>`` (Redis
expires on its own server clock — the manager additionally stores the expiry on
its injected clock inside each entry, so promotions keep the right TTL).
Connectivity problems (connection refused or lost, timeouts, an exhausted
``BlockingConnectionPool``, a loading or read-only server) raise
:class:`TierUnavailable`; other Redis errors raise :class:`TierError`.
"""

from __future__ import annotations

import math
from typing import Any

from supreme.cache.tiers.base import DEFAULT_MAX_VALUE_BYTES, CacheTier, TierError, TierUnavailable

__all__ = ["RedisTier"]


def _translate(tier: str, op: str, key: str, exc: Exception) -> TierError:
    import redis.exceptions as rex

    msg = f"{tier} {op} {key!r}: {type(exc).__name__}: {exc}"
    if isinstance(exc, (rex.ConnectionError, rex.TimeoutError, rex.ReadOnlyError, rex.MasterDownError,
                        rex.ClusterDownError, rex.TryAgainError, TimeoutError, OSError)):
        return TierUnavailable(msg)
    return TierError(msg)


class RedisTier(CacheTier):
    """L2 Redis tier over a redis-py compatible client (real or fakeredis)."""

    name = "L2"

    def __init__(
        self,
        client: Any,
        *,
        namespace: str = "supreme:cache:",
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
        name: str = "L2",
        owns_client: bool = False,
    ) -> None:
        super().__init__(name=name, max_value_bytes=max_value_bytes)
        self.client = client
        self.namespace = namespace
        self._owns = owns_client

    @classmethod
    def from_url(
        cls,
        url: str | None = None,
        *,
        namespace: str = "supreme:cache:",
        max_connections: int = 32,
        pool_timeout: float = 0.5,
        socket_timeout: float = 0.5,
        socket_connect_timeout: float = 0.5,
        health_check_interval: int = 15,
        retries: int = 0,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
    ) -> RedisTier:
        """A tier on ``url`` with a bounded blocking pool, or on a private fakeredis if ``url`` is None.

        ``retries`` defaults to 0: retrying belongs to the resilience layer, and a
        down server should fail fast so the manager can degrade.
        """
        if url is None:
            import fakeredis

            return cls(fakeredis.FakeRedis(), namespace=namespace, max_value_bytes=max_value_bytes,
                       owns_client=True)
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=pool_timeout,
            socket_timeout=socket_timeout, socket_connect_timeout=socket_connect_timeout,
            health_check_interval=health_check_interval, retry=Retry(NoBackoff(), retries),
        )
        client = redis.Redis(connection_pool=pool)
        return cls(client, namespace=namespace, max_value_bytes=max_value_bytes, owns_client=True)

    def _k(self, key: str) -> str:
        return self.namespace + key

    def _get(self, key: str) -> bytes | None:
        try:
            value = self.client.get(self.namespace + key)
        except Exception as exc:
            raise _translate(self.name, "GET", key, exc) from exc
        return None if value is None else bytes(value)

    def _set(self, key: str, value: bytes, ttl: float | None) -> None:
        px = None if ttl is None else max(1, math.ceil(ttl * 1000.0))
        try:
            self.client.set(self._k(key), value, px=px)
        except Exception as exc:
            raise _translate(self.name, "SET", key, exc) from exc

    def _set_many(self, items: list[tuple[str, bytes, float | None]]) -> None:
        # MULTI/EXEC: one round trip, and the server applies the batch whole or not at all
        try:
            with self.client.pipeline(transaction=True) as pipe:
                for key, value, ttl in items:
                    pipe.set(self._k(key), value, px=None if ttl is None else max(1, math.ceil(ttl * 1000.0)))
                pipe.execute()
        except Exception as exc:
            raise _translate(self.name, "SET", f"{items[0][0]}…({len(items)} keys)", exc) from exc

    def _delete(self, key: str) -> bool:
        try:
            return bool(self.client.delete(self._k(key)))
        except Exception as exc:
            raise _translate(self.name, "DEL", key, exc) from exc

    def contains(self, key: str) -> bool:
        """``EXISTS`` without fetching the value."""
        try:
            return bool(self.client.exists(self._k(key)))
        except Exception as exc:
            self._bump("errors")
            raise _translate(self.name, "EXISTS", key, exc) from exc

    def pttl(self, key: str) -> int | None:
        """Remaining Redis TTL in ms (None: no expiry or no key)."""
        try:
            ms = int(self.client.pttl(self._k(key)))
        except Exception as exc:
            raise _translate(self.name, "PTTL", key, exc) from exc
        return ms if ms >= 0 else None

    def ping(self) -> bool:
        """True if the server answers (TierUnavailable otherwise)."""
        try:
            return bool(self.client.ping())
        except Exception as exc:
            raise _translate(self.name, "PING", "", exc) from exc

    def close(self) -> None:
        """Close the client (and its pool) if this tier created it."""
        if self._owns:
            self.client.close()
            pool = getattr(self.client, "connection_pool", None)
            if pool is not None:
                pool.disconnect()
