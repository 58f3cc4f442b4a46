"""The auth service under races and failures: cache races with logout/refresh/revoke, a bounded
per-key session index, no raw X-API-Key in the event log, no connection detail in 503 bodies.

Races are replayed deterministically: a store subclass runs the "concurrent" operation right after its
read, i.e. in the window between the read and the cache insert of the request being served."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis
from fastapi.testclient import TestClient
from redis.backoff import NoBackoff
from redis.retry import Retry

from supreme.api.app import create_app
from supreme.api.auth import (
    AuthService,
    AuthUnavailable,
    InvalidSession,
    KeyRecord,
    KeyStore,
    MalformedCredentials,
    MissingCredentials,
    ReplayGuard,
    RevokedKey,
    SessionInfo,
    SessionStore,
    sign_request,
)
from supreme.api.auth.sessions import IssuedSession, token_hash
from supreme.clock import ManualClock
from supreme.db import Database
from supreme.events import EventLog
from tests.api.test_app import assert_error, build_services, signed

PATH = "/api/v1/trading/signal"
TTL, WINDOW = 60.0, 600.0
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.sig-SECRET-0123456789"


class RacingSessions(SessionStore):
    """Runs ``after_read`` once, right after a lookup read Redis (a concurrent request of this process)."""

    after_read: Any = None

    def lookup(self, token: str) -> SessionInfo:
        info = super().lookup(token)
        hook, self.after_read = self.after_read, None
        if hook is not None:
            hook()
        return info


class RacingKeys(KeyStore):
    """Runs ``after_read`` once, right after a key row was read from the database."""

    after_read: Any = None

    def get(self, key_id: str) -> KeyRecord | None:
        record = super().get(key_id)
        hook, self.after_read = self.after_read, None
        if hook is not None:
            hook()
        return record


@pytest.fixture
def service(tmp_path: Path, clock: ManualClock, event_log: EventLog) -> Iterator[AuthService]:
    db = Database.from_url(f"sqlite:///{tmp_path / 'auth.db'}")
    client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    yield AuthService(RacingKeys(db, clock), clock, replay=ReplayGuard(client, "t:"),
                      sessions=RacingSessions(client, clock, namespace="t:", ttl=TTL, refresh_window=WINDOW,
                                              event_log=event_log),
                      event_log=event_log)
    db.close()


_nonce = iter(range(10**9))


def headers_for(service: AuthService, key: Any, path: str = PATH) -> dict[str, str]:
    ts = round(service.clock.now() * 1000)
    return sign_request(key.record.key_id, key.credential, "GET", path, b"", ts, nonce=f"n{next(_nonce)}")


def login(service: AuthService) -> tuple[Any, IssuedSession]:
    key = service.store.create("ed25519", "signal:read")
    return key, service.login(headers_for(service, key, "/login"), "GET", "/login", b"")


def dead_redis() -> redis.Redis:
    """A client of a port nobody listens on, failing fast (no retries)."""
    return redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2,
                       retry=Retry(NoBackoff(), 0))


def bearer(service: AuthService, token: str) -> Any:
    return service.authenticate({"Authorization": f"Bearer {token}"}, "GET", "/x", b"")


# -- 1. cache races --
def test_logout_is_immediate_in_this_process(service: AuthService) -> None:
    _, issued = login(service)  # login put the session in the cache
    assert bearer(service, issued.token).method == "session"
    assert service.logout(issued.token) is True
    with pytest.raises(InvalidSession):
        bearer(service, issued.token)


def test_validation_racing_with_logout_does_not_recache(service: AuthService) -> None:
    _, issued = login(service)
    service._sessions.clear()  # a fresh process: the next validation reads Redis
    sessions = service.sessions
    assert isinstance(sessions, RacingSessions)
    sessions.after_read = lambda: service.logout(issued.token)
    # the in-flight request read Redis before the logout: it may pass, but must not re-cache the session
    assert bearer(service, issued.token).key_id
    with pytest.raises(InvalidSession):
        bearer(service, issued.token)  # same clock instant: no cache TTL has run out


def test_validation_racing_with_refresh_does_not_recache_the_old_token(service: AuthService) -> None:
    _, issued = login(service)
    service._sessions.clear()
    renewed: list[IssuedSession] = []
    sessions = service.sessions
    assert isinstance(sessions, RacingSessions)
    sessions.after_read = lambda: renewed.append(service.refresh(issued.token))
    bearer(service, issued.token)
    with pytest.raises(InvalidSession):
        bearer(service, issued.token)
    assert bearer(service, renewed[0].token).key_id == issued.info.key_id


def test_key_lookup_racing_with_revoke_does_not_recache_the_key(service: AuthService) -> None:
    key = service.store.create("ed25519", "signal:read")
    store = service.store
    assert isinstance(store, RacingKeys)
    store.after_read = lambda: service.revoke(key.record.key_id)
    # read before the revoke: this one request may pass, the next (same instant) must not
    service.authenticate(headers_for(service, key), "GET", PATH, b"")
    with pytest.raises(RevokedKey):
        service.authenticate(headers_for(service, key), "GET", PATH, b"")


def test_revoked_records_are_never_cached(service: AuthService) -> None:
    key = service.store.create("ed25519", "signal:read")
    service.store.revoke(key.record.key_id)
    with pytest.raises(RevokedKey):
        service.lookup(key.record.key_id)
    assert key.record.key_id not in service._keys


def test_logout_drops_the_cache_even_when_redis_fails(service: AuthService) -> None:
    _, issued = login(service)
    broken = dead_redis()
    service.sessions.client = broken
    try:
        with pytest.raises(AuthUnavailable):
            service.logout(issued.token)
        with pytest.raises(AuthUnavailable):
            bearer(service, issued.token)  # not served from the cache: Redis is asked, and is down
    finally:
        broken.close()


# -- 2. bounded per-key session index --
def test_session_index_stays_bounded(redis_client: Any, clock: ManualClock, namespace: str) -> None:
    store = SessionStore(redis_client, clock, namespace=namespace, ttl=TTL, refresh_window=WINDOW)
    live: list[IssuedSession] = []
    for i in range(60):
        live.append(store.create("ak_x", frozenset({"signal:read"})))
        clock.advance(TTL + WINDOW / 3)  # a session is dead after TTL + WINDOW: 3 alive at each create
        live = [s for s in live if s.info.state(clock.now()) != "dead"]
        if i >= 3:
            # the index is pruned on create, so it holds the sessions alive at the last create
            assert redis_client.zcard(store._index("ak_x")) == 3
    now_live = store.create("ak_x", frozenset({"signal:read"}))
    live.append(now_live)
    assert redis_client.zcard(store._index("ak_x")) == len(live) == 3
    assert store.revoke_key("ak_x") == len(live)
    for s in live:
        with pytest.raises(InvalidSession):
            store.validate(s.token)
    assert redis_client.exists(store._index("ak_x")) == 0


def test_refresh_and_logout_leave_the_index(redis_client: Any, clock: ManualClock, namespace: str) -> None:
    store = SessionStore(redis_client, clock, namespace=namespace, ttl=TTL, refresh_window=WINDOW)
    a = store.create("ak_y", frozenset({"signal:read"}))
    b = store.create("ak_y", frozenset({"signal:read"}))
    new_a = store.refresh(a.token)
    assert store.end(b.token) is True
    members = {m.decode() for m in redis_client.zrange(store._index("ak_y"), 0, -1)}
    assert members == {token_hash(new_a.token)}
    assert store.revoke_key("ak_y") == 1


# -- 3. no raw X-API-Key in the event log --
@pytest.mark.parametrize("extra", [{}, {"X-Timestamp": "1", "X-Signature": "AAAA"}])
def test_bearer_pasted_into_api_key_never_reaches_the_log(service: AuthService, event_log: EventLog,
                                                          extra: dict[str, str]) -> None:
    with pytest.raises((MissingCredentials, MalformedCredentials)):
        service.authenticate({"X-API-Key": BEARER, **extra}, "GET", PATH, b"", request_id="r-x")
    frame = event_log.to_frame()
    assert "SECRET" not in frame.astype(str).to_csv()
    row = frame[frame.operation == "validate_key"].iloc[0]
    assert row.outcome == "rejected" and (row.key is None or row.key != row.key)  # None or NaN
    big = "k" * 8192
    with pytest.raises(MalformedCredentials):
        service.authenticate({"X-API-Key": big, "X-Timestamp": "1", "X-Signature": "AAAA"}, "GET", PATH, b"")
    assert big not in event_log.to_frame().astype(str).to_csv()


def test_valid_key_id_is_logged_after_parsing(service: AuthService, event_log: EventLog) -> None:
    key = service.store.create("ed25519", "signal:read")
    service.authenticate(headers_for(service, key), "GET", PATH, b"")
    row = event_log.to_frame().iloc[0]
    assert (row.component, row.operation, row.outcome, row.key) == (
        "API_Gateway", "validate_key", "ok", key.record.key_id)


# -- 4. no connection detail in 503 bodies --
def test_dead_auth_redis_503_body_has_no_host_or_port(tmp_path: Path, clock: ManualClock,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    dead = dead_redis()
    svc = build_services(tmp_path, clock, redis_client=dead, cache_redis_url="redis://127.0.0.1:1/0")
    try:
        client = TestClient(create_app(svc))
        key = svc.auth.store.create("ed25519", "signal:read")
        body, headers = signed(svc, key, {"symbol": "SPX"}, nonce="d1")
        with caplog.at_level(logging.WARNING, logger="supreme.api.auth"):
            resp = client.post(PATH, content=body, headers=headers)
        got = assert_error(resp, 503, "auth_unavailable")
        assert "authentication store unavailable" in got["message"]
        for leak in ("127.0.0.1", "111", "connecting", "Connection", "port"):
            assert leak not in resp.text, leak
        logged = [r for r in caplog.records if r.name.startswith("supreme.api.auth")]
        # the detail stays on the server side: one line naming the failure (no traceback per request)
        assert logged and "127.0.0.1" in logged[0].getMessage() and logged[0].exc_info is None
    finally:
        svc.close()


def test_session_store_errors_are_generic_and_chained(clock: ManualClock) -> None:
    dead = dead_redis()
    store = SessionStore(dead, clock)
    try:
        for call in (lambda: store.create("ak_z", frozenset({"a"})), lambda: store.lookup("tok"),
                     lambda: store.refresh("tok"), lambda: store.end("tok"),
                     lambda: store.revoke_key("ak_z")):
            with pytest.raises(AuthUnavailable) as info:
                call()
            assert str(info.value) == "authentication store unavailable (session store), request refused"
            assert isinstance(info.value.__cause__, redis.RedisError)
            assert "127.0.0.1" not in str(info.value.to_dict())
    finally:
        dead.close()
