"""The Auth_Service participant: API-key signatures, sessions and permissions, on the injected clock.

Signature path (seed "API Key Authentication Flow")::

    headers present?        ─ no ─▶ MissingCredentials / MalformedCredentials
    |ts - now| in window?   ─ no ─▶ StaleTimestamp    (past: recv_window_ms, future: future_skew_ms)
    key cache (TTL, clock)  ─ miss ─▶ Database lookup ─▶ UnknownKey / RevokedKey; cache the record
    verify signature        ─ bad ─▶ BadSignature     (constant-time for HMAC)
    first use of request?   ─ no ─▶ ReplayedRequest   (after the signature, so forgeries burn nothing)
    scopes ⊇ required?      ─ no ─▶ InsufficientScope

The cache holds the key record and its verifier for ``cache_ttl`` seconds of clock time; it never skips
the signature, timestamp or replay checks.  A revocation made through this service drops the entry at
once (after the database write); one made elsewhere (another process, the CLI) is seen within
``cache_ttl``.  Only records that were active when read are cached, and a lookup that raced with a
revocation in this process does not cache what it read (an invalidation counter is compared before the
insert), so a revoke cannot be undone by a concurrent cache fill.

Session path (seed "Session-Based Authorization"): a bearer token is looked up (briefly cached by its
hash), judged by the clock, and when expired but refreshable it is refreshed on the way — the new token
travels back in :attr:`Principal.new_session`.  The key behind a session must still be active.
Logout and refresh change Redis first and drop the cache entry after, and a validation that read Redis
before a concurrent logout/refresh in this process does not re-cache the old session (same counter), so
within one process they take effect at once; a logout or refresh made by another process is seen here
within ``cache_ttl`` (the cache is deliberately brief).

The event log never holds an unvalidated ``X-API-Key`` value: ``validate_key`` is recorded with the key id
only once the signature headers parse (the id then has the key-id format), else with no key and outcome
``rejected`` — a bearer token pasted into the header never reaches the log.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache

from supreme.api.auth.errors import (
    AuthUnavailable,
    InsufficientScope,
    KeyStoreError,
    MalformedCredentials,
    MissingCredentials,
    ReplayedRequest,
    RevokedKey,
    SessionExpired,
    StaleTimestamp,
    UnknownKey,
)
from supreme.api.auth.keys import KeyRecord, KeyStore, Verifier
from supreme.api.auth.nonces import ReplayGuard
from supreme.api.auth.sessions import IssuedSession, SessionInfo, SessionStore, token_hash
from supreme.api.auth.signing import (
    HEADER_KEY,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    SignedRequest,
    canonical_string,
)
from supreme.clock import Clock
from supreme.db import DatabaseUnavailable
from supreme.events import NULL_LOG, EventLog

__all__ = ["AuthService", "Principal"]

_H_KEY, _H_TS, _H_SIG, _H_NONCE = (
    h.lower() for h in (HEADER_KEY, HEADER_TIMESTAMP, HEADER_SIGNATURE, HEADER_NONCE)
)


def _lowercase_dict(headers: Mapping[str, str]) -> bool:
    """A plain dict whose names are all lower case: used as is (a multi-valued mapping is flattened)."""
    return type(headers) is dict and all(k.islower() for k in headers)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made the request and what it may do."""

    key_id: str
    scopes: frozenset[str]
    method: str  # "signature" or "session"
    new_session: IssuedSession | None = None

    def allows(self, required: Iterable[str]) -> bool:
        """True when every required scope is granted (``admin`` grants all)."""
        return "admin" in self.scopes or set(required) <= self.scopes


class AuthService:
    """Authenticates requests by signature or session and checks scopes."""

    def __init__(self, store: KeyStore, clock: Clock, *, replay: ReplayGuard | None = None,
                 sessions: SessionStore | None = None, recv_window_ms: int = 5000, future_skew_ms: int = 1000,
                 replay_ttl_ms: int | None = None, cache_ttl: float = 5.0, cache_size: int = 10_000,
                 auto_refresh: bool = True, event_log: EventLog = NULL_LOG) -> None:
        if recv_window_ms <= 0 or future_skew_ms < 0:
            raise ValueError(f"recv_window_ms must be > 0 and future_skew_ms >= 0, got "
                             f"{recv_window_ms}/{future_skew_ms}")
        if cache_ttl < 0:
            raise ValueError(f"cache_ttl must be >= 0 seconds, got {cache_ttl}")
        self.store = store
        self.clock = clock
        self.replay = replay if replay is not None else ReplayGuard()
        self.sessions = sessions if sessions is not None else SessionStore(clock=clock, event_log=event_log)
        self.recv_window_ms = int(recv_window_ms)
        self.future_skew_ms = int(future_skew_ms)
        span = recv_window_ms + future_skew_ms
        self.replay_ttl_ms = replay_ttl_ms if replay_ttl_ms is not None else 2 * span
        self.cache_ttl = float(cache_ttl)
        self.auto_refresh = auto_refresh
        self.event_log = event_log
        ttl = max(cache_ttl, 1e-9)
        self._keys: TTLCache[str, tuple[KeyRecord, Verifier]] = TTLCache(cache_size, ttl, timer=clock.now)
        self._sessions: TTLCache[str, SessionInfo] = TTLCache(cache_size, ttl, timer=clock.now)
        self._lock = threading.Lock()  # TTLCache is not thread-safe; FastAPI runs deps on a thread pool
        # Bumped (under the lock) after every invalidation; a fill that began before a bump is not cached,
        # so a lookup racing with revoke/logout/refresh cannot re-insert what was just removed.
        self._key_epoch = 0
        self._session_epoch = 0

    # -- event log -------------------------------------------------------------
    def _ev(self, flow: str, component: str, op: str, outcome: str = "ok", key: str | None = None,
            request_id: str | None = None, tier: str | None = None, detail: str | None = None) -> None:
        if self.event_log.enabled:
            self.event_log.record(self.clock.now(), flow, component, op, outcome, key=key,
                                  request_id=request_id, tier=tier, detail=detail)

    # -- key lookup (cached) ------------------------------------------------------
    def lookup(self, key_id: str, request_id: str | None = None, *, use_cache: bool = True,
               flow: str = "api_key_auth") -> tuple[KeyRecord, Verifier]:
        """The active key ``key_id`` and its verifier; :class:`UnknownKey`/:class:`RevokedKey` otherwise."""
        with self._lock:
            epoch = self._key_epoch
            hit = self._keys.get(key_id) if use_cache and self.cache_ttl > 0 else None
        if use_cache and self.cache_ttl > 0:
            if hit is not None:
                self._ev(flow, "Cache_Manager", "get", "hit", key_id, request_id, "L1")
                return hit
            self._ev(flow, "Cache_Manager", "get", "miss", key_id, request_id, "L1")
        try:
            record = self.store.get(key_id)
        except DatabaseUnavailable as exc:
            self._ev(flow, "Database", "lookup", "error", key_id, request_id)
            raise AuthUnavailable("API-key store unreachable; request refused") from exc
        if record is None:
            self._ev(flow, "Database", "lookup", "miss", key_id, request_id)
            raise UnknownKey(f"unknown API key {key_id!r}")
        self._ev(flow, "Database", "lookup", "ok", key_id, request_id)
        if record.revoked:
            raise RevokedKey(f"API key {key_id} was revoked")
        try:
            verifier = self.store.verifier(record)
        except KeyStoreError as exc:  # missing master key or a row that does not decrypt
            raise AuthUnavailable(f"API key {key_id} cannot be checked by this server") from exc
        entry = (record, verifier)
        if self.cache_ttl > 0 and record.revoked_at is None:
            with self._lock:
                cached = self._key_epoch == epoch
                if cached:
                    self._keys[key_id] = entry
            self._ev(flow, "Cache_Manager", "set", "ok" if cached else "skipped", key_id, request_id, "L1")
        return entry

    def invalidate(self, key_id: str) -> None:
        """Forget the cached record of ``key_id`` and cached sessions of it."""
        with self._lock:
            self._key_epoch += 1
            self._session_epoch += 1
            self._keys.pop(key_id, None)
            for digest in [d for d, info in self._sessions.items() if info.key_id == key_id]:
                self._sessions.pop(digest, None)

    # -- signature path ---------------------------------------------------------------
    def authenticate(self, headers: Mapping[str, str], method: str, path_with_query: str, body: bytes,
                     required: Iterable[str] = (), request_id: str | None = None) -> Principal:
        """Authenticate by signature headers or ``Authorization: Bearer`` and check ``required`` scopes."""
        low = headers if _lowercase_dict(headers) else {k.lower(): v for k, v in headers.items()}
        if _H_KEY in low or _H_SIG in low:
            return self.authenticate_signature(low, method, path_with_query, body, required, request_id)
        auth = low.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return self.authenticate_session(auth[7:].strip(), required, request_id)
        raise MissingCredentials(
            f"send {HEADER_KEY}, {HEADER_TIMESTAMP} and {HEADER_SIGNATURE} headers "
            "or 'Authorization: Bearer <token>'"
        )

    def authenticate_signature(self, headers: Mapping[str, str], method: str, path_with_query: str,
                               body: bytes, required: Iterable[str] = (),
                               request_id: str | None = None) -> Principal:
        """Check an exchange-style signed request (see :mod:`supreme.api.auth.signing`)."""
        signed, record, message = self.check_signature(headers, method, path_with_query, body, request_id)
        if not self.replay.first_use(signed.key_id, hashlib.sha256(message).hexdigest(), self.replay_ttl_ms):
            self._ev("api_key_auth", "Auth_Service", "check_replay", "rejected", signed.key_id, request_id)
            raise ReplayedRequest(f"request already accepted for key {signed.key_id} "
                                  f"(same timestamp, nonce and content); use a fresh {HEADER_NONCE}")
        principal = Principal(key_id=record.key_id, scopes=record.scopes, method="signature")
        self.authorize(principal, required, request_id, flow="api_key_auth")
        return principal

    def check_signature(self, headers: Mapping[str, str], method: str, path_with_query: str, body: bytes,
                        request_id: str | None = None) -> tuple[SignedRequest, KeyRecord, bytes]:
        """The in-process part of a signature check -- headers, timestamp window, key (cached record and
        loaded public key / secret), signature -- without the shared replay store or the scopes; returns
        the parsed request, the key and the canonical message.  :meth:`authenticate_signature` adds the
        replay check (after this, so forgeries burn no nonce) and the scopes."""
        low = headers if all(k.islower() for k in headers) else {k.lower(): v for k, v in headers.items()}
        missing = [h for h, k in ((HEADER_KEY, _H_KEY), (HEADER_TIMESTAMP, _H_TS), (HEADER_SIGNATURE, _H_SIG))
                   if not low.get(k)]
        try:
            if missing:
                raise MissingCredentials(f"missing header(s): {', '.join(missing)}")
            signed = SignedRequest.from_headers(low[_H_KEY], low[_H_TS], low[_H_SIG], low.get(_H_NONCE))
        except (MissingCredentials, MalformedCredentials):
            # the raw header may be anything (a pasted bearer token, 8 KB of junk): never log it
            self._ev("api_key_auth", "API_Gateway", "validate_key", "rejected", None, request_id)
            raise
        self._ev("api_key_auth", "API_Gateway", "validate_key", "ok", signed.key_id, request_id)
        now_ms = self.clock.now() * 1000.0
        if signed.timestamp_ms < now_ms - self.recv_window_ms:
            self._ev("api_key_auth", "Auth_Service", "check_timestamp", "rejected", signed.key_id, request_id)
            raise StaleTimestamp(f"{HEADER_TIMESTAMP} {signed.timestamp_ms} is older than the "
                                 f"{self.recv_window_ms} ms receive window (server time {int(now_ms)})")
        if signed.timestamp_ms > now_ms + self.future_skew_ms:
            self._ev("api_key_auth", "Auth_Service", "check_timestamp", "rejected", signed.key_id, request_id)
            raise StaleTimestamp(f"{HEADER_TIMESTAMP} {signed.timestamp_ms} is more than "
                                 f"{self.future_skew_ms} ms ahead of server time {int(now_ms)}")
        record, verifier = self.lookup(signed.key_id, request_id)
        message = canonical_string(signed.timestamp_ms, method, path_with_query, body, signed.nonce)
        try:
            verifier.verify(signed.signature, message)
        except Exception:
            self._ev("api_key_auth", "Auth_Service", "validate_signature", "rejected", signed.key_id,
                     request_id)
            raise
        self._ev("api_key_auth", "Auth_Service", "validate_signature", "ok", signed.key_id, request_id)
        return signed, record, message

    def authorize(self, principal: Principal, required: Iterable[str], request_id: str | None = None,
                  flow: str = "api_key_auth") -> None:
        """Raise :class:`InsufficientScope` unless ``principal`` holds every required scope."""
        need = set(required)
        if principal.allows(need):
            self._ev(flow, "Auth_Service", "check_permissions", "ok", principal.key_id, request_id)
            return
        self._ev(flow, "Auth_Service", "check_permissions", "rejected", principal.key_id, request_id)
        raise InsufficientScope(f"key {principal.key_id} lacks scope(s) {sorted(need - principal.scopes)}")

    # -- sessions -----------------------------------------------------------------------
    def login(self, headers: Mapping[str, str], method: str, path_with_query: str, body: bytes,
              request_id: str | None = None) -> IssuedSession:
        """A signed request becomes a session token carrying the key's scopes."""
        principal = self.authenticate_signature(headers, method, path_with_query, body, (), request_id)
        issued = self.sessions.create(principal.key_id, principal.scopes, request_id)
        with self._lock:
            self._sessions[token_hash(issued.token)] = issued.info
        self._ev("api_key_auth", "API_Gateway", "issue_session", "ok", principal.key_id, request_id)
        return issued

    def authenticate_session(self, token: str, required: Iterable[str] = (),
                             request_id: str | None = None) -> Principal:
        """Validate a bearer token; refresh it on the way if expired but refreshable and allowed."""
        self._ev("session_auth", "API_Gateway", "validate_session", "ok", None, request_id)
        digest = token_hash(token)
        with self._lock:
            epoch = self._session_epoch
            info = self._sessions.get(digest)
        self._ev("session_auth", "Cache_Manager", "get", "miss" if info is None else "hit", None,
                 request_id, "L1")
        if info is None:
            info = self.sessions.lookup(token)
            with self._lock:
                if self._session_epoch == epoch:  # else a logout/refresh/revoke raced with this read
                    self._sessions[digest] = info
        new_session: IssuedSession | None = None
        try:
            self.sessions.judge(info, request_id)
        except SessionExpired:
            if not self.auto_refresh:
                raise
            new_session = self.refresh(token, request_id)
            info = new_session.info
        self.lookup(info.key_id, request_id, flow="session_auth")  # the key must still be active
        principal = Principal(key_id=info.key_id, scopes=info.scopes, method="session",
                              new_session=new_session)
        self.authorize(principal, required, request_id, flow="session_auth")
        return principal

    def answers_locally(self, headers: Mapping[str, str]) -> bool:
        """True when :meth:`authenticate` on ``headers`` needs no I/O: a bearer token of an active cached
        session whose key is cached, or a signature by a cached key with the nonce store in this process
        (an embedded fakeredis); nothing is logged or changed."""
        low = headers if _lowercase_dict(headers) else {k.lower(): v for k, v in headers.items()}
        if _H_KEY in low or _H_SIG in low:
            if self.cache_ttl <= 0 or type(self.replay.client).__module__.split(".", 1)[0] != "fakeredis":
                return False
            with self._lock:
                return low.get(_H_KEY, "") in self._keys
        auth = low.get("authorization", "")
        if auth[:7].lower() != "bearer ":
            return False
        with self._lock:
            info = self._sessions.get(token_hash(auth[7:].strip()))
            cached = self.cache_ttl > 0 and info is not None and info.key_id in self._keys
        return cached and info is not None and info.state(self.clock.now()) == "active"

    def refresh(self, token: str, request_id: str | None = None) -> IssuedSession:
        """Exchange ``token`` for a new one (single use); the key is re-checked in the database."""
        info = self.sessions.lookup(token)
        self.lookup(info.key_id, request_id, use_cache=False, flow="session_auth")
        issued = self.sessions.refresh(token, request_id)  # Redis first (GETDEL), then the cache
        with self._lock:
            self._session_epoch += 1
            self._sessions.pop(token_hash(token), None)
            self._sessions[token_hash(issued.token)] = issued.info
        self._ev("session_auth", "Cache_Manager", "set", "ok", info.key_id, request_id, "L1")
        return issued

    def logout(self, token: str) -> bool:
        """End one session: in Redis first, then in this process's cache (even if Redis failed)."""
        try:
            return self.sessions.end(token)
        finally:
            with self._lock:
                self._session_epoch += 1
                self._sessions.pop(token_hash(token), None)

    # -- administration ------------------------------------------------------------------
    def revoke(self, key_id: str) -> KeyRecord:
        """Revoke ``key_id`` in the database, end all its sessions, drop it from the caches."""
        record = self.store.revoke(key_id)  # the database write comes before any cache drop
        try:
            self.sessions.revoke_key(key_id)
        finally:
            self.invalidate(key_id)
        return record

    @classmethod
    def from_settings(cls, clock: Clock, *, settings: Any = None, namespace: str = "supreme:",
                      event_log: EventLog = NULL_LOG, **kwargs: Any) -> AuthService:
        """Build the whole service from ``SUPREME_DATABASE_URL``, ``SUPREME_REDIS_URL`` and the master key."""
        from supreme.api.auth.cipher import SecretCipher
        from supreme.config import load_settings
        from supreme.db import Database

        settings = settings if settings is not None else load_settings()
        if settings.redis_url:
            import redis

            client: Any = redis.Redis.from_url(settings.redis_url)
        else:
            import fakeredis

            client = fakeredis.FakeRedis()
        cipher = SecretCipher(settings.master_key) if settings.master_key is not None else None
        store = KeyStore(Database.from_url(settings.database_url), clock, cipher)
        return cls(store, clock, replay=ReplayGuard(client, namespace),
                   sessions=SessionStore(client, clock, namespace=namespace, event_log=event_log),
                   event_log=event_log, **kwargs)


