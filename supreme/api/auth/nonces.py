"""Replay refusal: remember each accepted signed request for as long as its timestamp is acceptable.

The remembered thing is ``sha256(canonical string)`` per key id — the canonical string already covers
timestamp, method, path, nonce and body, so an identical request is a replay whatever the signature's
encoding, while a client may legitimately reuse nothing but may send two identical requests in one
millisecond by giving them different ``X-Nonce`` values.  One ``SET key 1 NX PX ttl`` per request is
atomic across every API process sharing the Redis.

Why a real-time Redis TTL is enough even under a simulated clock: a replay of a request carries the
original timestamp, so once the *clock* has moved past ``timestamp + recv_window`` the timestamp check
refuses it anyway; the entry only has to live while the clock can still accept it.  The default TTL is
twice the acceptance span, which covers clocks running up to 2x slower than real time; clocks faster
than real time (SimPy) only keep entries longer than needed.

When Redis is unreachable the client sees only "authentication store unavailable"; the connection
error is logged here (once per kind of failure, see :class:`~supreme.monitoring.failures.FailureLog`),
never put in a response.
"""

from __future__ import annotations

import logging
from typing import Any

from supreme.api.auth.errors import AuthUnavailable
from supreme.monitoring.failures import FailureLog

__all__ = ["ReplayGuard"]

_log = logging.getLogger(__name__)


class ReplayGuard:
    """``first_use(key_id, digest, ttl_ms)`` is True once per digest within the TTL."""

    def __init__(self, client: Any = None, namespace: str = "supreme:") -> None:
        if client is None:
            import fakeredis

            client = fakeredis.FakeRedis()
        self.client = client
        self.namespace = namespace
        self.failures = FailureLog(_log, "nonce store (Redis)")

    def first_use(self, key_id: str, digest_hex: str, ttl_ms: int) -> bool:
        """Atomically record the digest; False if it was already recorded (a replay)."""
        import redis

        try:
            first = bool(self.client.set(f"{self.namespace}auth:replay:{key_id}:{digest_hex}", b"1",
                                         nx=True, px=max(1, int(ttl_ms))))
        except redis.RedisError as exc:
            self.failures.failed(exc)  # one log line per kind of failure, the rest counted
            raise AuthUnavailable("authentication store unavailable (nonce store), request refused") from exc
        self.failures.succeeded()
        return first
