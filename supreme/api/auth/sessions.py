"""Session store (the seed's Session_Store): opaque bearer tokens over Redis, judged by the clock.

A session is created by a key-authenticated login and carries that key's scopes.  Only
``sha256(token)`` is stored.  Lifecycle, decided by the injected clock (never by Redis' real-time TTL)::

    issued ──ttl──▶ expires_at ──refresh_window──▶ refresh_until
    │   active   │  expired, refreshable  │  dead (InvalidSession)

``refresh`` (allowed while active or refreshable) atomically takes the old record with ``GETDEL`` — so a
token refreshes at most once even across processes — and issues a new token with fresh times.
Redis keys live ``ttl + refresh_window`` (plus a margin) so the record is there to be judged.
A per-key index lets :meth:`SessionStore.revoke_key` end every session of a revoked key.  It is a
sorted set scored by ``refresh_until`` (clock milliseconds): each ``create`` first drops the members that
are dead by the clock (``ZREMRANGEBYSCORE``), so the index holds about as many members as the key has
live sessions instead of growing with every login for as long as logins keep its TTL alive.

When Redis is unreachable the client sees only "authentication store unavailable"; the connection
error (host, port, reason) is logged here (once per kind of failure), never put in a response.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
from dataclasses import dataclass
from typing import Any

from supreme.api.auth.errors import AuthUnavailable, InvalidSession, SessionExpired
from supreme.clock import Clock
from supreme.events import NULL_LOG, EventLog
from supreme.monitoring.failures import FailureLog

__all__ = ["IssuedSession", "SessionInfo", "SessionStore", "token_hash"]

_MAX_TOKEN_LEN = 256
_log = logging.getLogger(__name__)


def token_hash(token: str) -> str:
    """Hex SHA-256 of a session token: the only form stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What a session grants and when it ends (clock seconds)."""

    key_id: str
    scopes: frozenset[str]
    issued_at: float
    expires_at: float
    refresh_until: float

    def state(self, now: float) -> str:
        """``"active"``, ``"refreshable"`` or ``"dead"`` at clock time ``now``."""
        if now < self.expires_at:
            return "active"
        return "refreshable" if now < self.refresh_until else "dead"

    def to_json(self) -> str:
        """Stored form."""
        return json.dumps({"key_id": self.key_id, "scopes": sorted(self.scopes), "issued_at": self.issued_at,
                           "expires_at": self.expires_at, "refresh_until": self.refresh_until})

    @classmethod
    def from_json(cls, raw: bytes | str) -> SessionInfo:
        """Parse the stored form."""
        d = json.loads(raw)
        return cls(key_id=d["key_id"], scopes=frozenset(d["scopes"]), issued_at=float(d["issued_at"]),
                   expires_at=float(d["expires_at"]), refresh_until=float(d["refresh_until"]))


@dataclass(frozen=True, slots=True)
class IssuedSession:
    """A new bearer token (shown to the client once) and its session."""

    token: str
    info: SessionInfo

    def __repr__(self) -> str:
        return f"IssuedSession(token=<hidden>, info={self.info!r})"


class SessionStore:
    """Create, validate, refresh and revoke sessions in Redis (or fakeredis)."""

    def __init__(self, client: Any = None, clock: Clock | None = None, *, namespace: str = "supreme:",
                 ttl: float = 900.0, refresh_window: float = 86400.0, event_log: EventLog = NULL_LOG) -> None:
        if not ttl > 0:
            raise ValueError(f"session ttl must be > 0 seconds, got {ttl}")
        if refresh_window < 0:
            raise ValueError(f"session refresh_window must be >= 0 seconds, got {refresh_window}")
        if clock is None:
            raise ValueError("SessionStore needs a clock")
        if client is None:
            import fakeredis

            client = fakeredis.FakeRedis()
        self.client = client
        self.clock = clock
        self.namespace = namespace
        self.ttl = float(ttl)
        self.refresh_window = float(refresh_window)
        self.event_log = event_log
        self.failures = FailureLog(_log, "session store (Redis)")

    def _unavailable(self, exc: Exception) -> AuthUnavailable:
        """The client-facing error for a Redis failure; the detail goes to the server log, once per kind."""
        self.failures.failed(exc)
        return AuthUnavailable("authentication store unavailable (session store), request refused")

    def _key(self, digest: str) -> str:
        return f"{self.namespace}auth:session:{digest}"

    def _index(self, key_id: str) -> str:
        # A new name for the sorted set: an older deployment's plain SET under the old name would
        # answer ZADD with WRONGTYPE; it simply expires by its own PEXPIRE.
        return f"{self.namespace}auth:session-index:{key_id}"

    def _px(self) -> int:
        # Real-time lifetime of the record: long enough to be judged by the clock, then garbage.
        return math.ceil((self.ttl + self.refresh_window) * 1000) + 60_000

    def _record(self, op: str, outcome: str, key: str | None, request_id: str | None) -> None:
        self.event_log.record(self.clock.now(), "session_auth", "Session_Store", op, outcome,
                              key=key, request_id=request_id)

    def create(self, key_id: str, scopes: frozenset[str], request_id: str | None = None) -> IssuedSession:
        """A new session for ``key_id`` with ``scopes``."""
        import redis

        now = self.clock.now()
        token = secrets.token_urlsafe(32)
        digest = token_hash(token)
        info = SessionInfo(key_id=key_id, scopes=frozenset(scopes), issued_at=now, expires_at=now + self.ttl,
                           refresh_until=now + self.ttl + self.refresh_window)
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.set(self._key(digest), info.to_json(), px=self._px())
            # dead by the clock (refresh_until <= now) means no longer worth revoking: drop from the index
            pipe.zremrangebyscore(self._index(key_id), "-inf", math.floor(now * 1000))
            pipe.zadd(self._index(key_id), {digest: math.ceil(info.refresh_until * 1000)})
            pipe.pexpire(self._index(key_id), self._px())
            pipe.execute()
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        self.failures.succeeded()
        self._record("create", "ok", key_id, request_id)
        return IssuedSession(token=token, info=info)

    def lookup(self, token: str) -> SessionInfo:
        """The session of ``token`` whatever its state; :class:`InvalidSession` if there is none."""
        import redis

        if not token or len(token) > _MAX_TOKEN_LEN:
            raise InvalidSession("session token is empty or too long")
        try:
            raw = self.client.get(self._key(token_hash(token)))
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        self.failures.succeeded()
        if raw is None:
            raise InvalidSession("unknown session token (never issued, already refreshed, or revoked)")
        return SessionInfo.from_json(raw)

    def validate(self, token: str, request_id: str | None = None) -> SessionInfo:
        """The active session of ``token``; :class:`SessionExpired` if only refreshable."""
        info = self.lookup(token)
        return self.judge(info, request_id)

    def judge(self, info: SessionInfo, request_id: str | None = None) -> SessionInfo:
        """Return ``info`` if active at the clock's now, else raise the matching error."""
        state = info.state(self.clock.now())
        self._record("validate", "ok" if state == "active" else state, info.key_id, request_id)
        if state == "active":
            return info
        if state == "refreshable":
            raise SessionExpired(f"session of key {info.key_id} expired; refresh it while refreshable")
        raise InvalidSession(f"session of key {info.key_id} is past its refresh window; log in again")

    def refresh(self, token: str, request_id: str | None = None) -> IssuedSession:
        """Swap ``token`` (active or refreshable, single use) for a new session with the same scopes."""
        import redis

        if not token or len(token) > _MAX_TOKEN_LEN:
            raise InvalidSession("session token is empty or too long")
        digest = token_hash(token)
        try:
            raw = self.client.getdel(self._key(digest))
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        if raw is None:
            self._record("refresh", "rejected", None, request_id)
            raise InvalidSession("unknown session token (never issued, already refreshed, or revoked)")
        info = SessionInfo.from_json(raw)
        try:
            self.client.zrem(self._index(info.key_id), digest)
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        if info.state(self.clock.now()) == "dead":
            self._record("refresh", "rejected", info.key_id, request_id)
            raise InvalidSession(f"session of key {info.key_id} is past its refresh window; log in again")
        issued = self.create(info.key_id, info.scopes, request_id)
        self._record("refresh", "ok", info.key_id, request_id)
        return issued

    def end(self, token: str) -> bool:
        """Log out: delete one session; True if it existed."""
        import redis

        digest = token_hash(token)
        try:
            raw = self.client.getdel(self._key(digest))
            if raw is not None:
                self.client.zrem(self._index(SessionInfo.from_json(raw).key_id), digest)
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        return raw is not None

    def revoke_key(self, key_id: str) -> int:
        """End every session of ``key_id``; return how many were ended."""
        import redis

        try:
            digests = [d.decode() if isinstance(d, bytes) else str(d)
                       for d in self.client.zrange(self._index(key_id), 0, -1)]
            ended = int(self.client.delete(*[self._key(d) for d in digests])) if digests else 0
            self.client.delete(self._index(key_id))
        except redis.RedisError as exc:
            raise self._unavailable(exc) from exc
        self._record("revoke_key", "ok", key_id, None)
        return ended
