"""Sessions on fakeredis and the real Redis, judged by a ManualClock: expiry, refresh, revocation."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supreme.api.auth import (
    AuthService,
    InsufficientScope,
    InvalidSession,
    KeyStore,
    ReplayGuard,
    RevokedKey,
    SecretCipher,
    SessionExpired,
    SessionStore,
    sign_request,
)
from supreme.api.auth.sessions import token_hash
from supreme.clock import ManualClock
from supreme.db import Database
from supreme.events import EventLog

TTL, WINDOW = 900.0, 86400.0


@pytest.fixture
def sessions(redis_client: Any, clock: ManualClock, namespace: str, event_log: EventLog) -> SessionStore:
    return SessionStore(redis_client, clock, namespace=namespace, ttl=TTL, refresh_window=WINDOW,
                        event_log=event_log)


@pytest.fixture
def service(tmp_path: Path, clock: ManualClock, redis_client: Any, namespace: str,
            sessions: SessionStore, event_log: EventLog) -> Iterator[AuthService]:
    db = Database.from_url(f"sqlite:///{tmp_path / 'auth.db'}")
    yield AuthService(KeyStore(db, clock, SecretCipher(os.urandom(32))), clock,
                      replay=ReplayGuard(redis_client, namespace), sessions=sessions, event_log=event_log)
    db.close()


def login(service: AuthService, clock: ManualClock, key_type: str = "ed25519", scopes: str = "signal:read"):
    created = service.store.create(key_type, scopes)
    headers = sign_request(created.record.key_id, created.credential, "POST", "/api/v1/auth/session", b"",
                           round(clock.now() * 1000))
    return created.record.key_id, service.login(headers, "POST", "/api/v1/auth/session", b"")


def test_only_the_token_hash_is_stored(sessions: SessionStore, redis_client: Any, namespace: str) -> None:
    issued = sessions.create("ak_1", frozenset({"signal:read"}))
    keys = [k.decode() for k in redis_client.scan_iter(match=f"{namespace}*")]
    assert f"{namespace}auth:session:{token_hash(issued.token)}" in keys
    for k in keys:
        assert issued.token not in k
        if redis_client.type(k) == b"string":
            assert issued.token.encode() not in redis_client.get(k)
    assert issued.token not in repr(issued)


def test_lifecycle_active_expired_dead(sessions: SessionStore, clock: ManualClock) -> None:
    issued = sessions.create("ak_1", frozenset({"signal:read"}))
    assert issued.info.expires_at == 1000.0 + TTL and issued.info.refresh_until == 1000.0 + TTL + WINDOW
    assert sessions.validate(issued.token).scopes == {"signal:read"}
    clock.advance(TTL - 0.001)
    sessions.validate(issued.token)
    clock.advance(0.001)
    with pytest.raises(SessionExpired):
        sessions.validate(issued.token)
    clock.advance(WINDOW - 0.001)
    with pytest.raises(SessionExpired):
        sessions.validate(issued.token)
    clock.advance(0.001)
    with pytest.raises(InvalidSession, match="refresh window"):
        sessions.validate(issued.token)
    with pytest.raises(InvalidSession, match="refresh window"):
        sessions.refresh(issued.token)


def test_refresh_is_single_use_and_gives_fresh_times(sessions: SessionStore, clock: ManualClock) -> None:
    old = sessions.create("ak_1", frozenset({"signal:read", "stream:read"}))
    clock.advance(TTL + 3600)
    new = sessions.refresh(old.token)
    assert new.token != old.token and new.info.scopes == old.info.scopes
    assert new.info.expires_at == clock.now() + TTL
    assert sessions.validate(new.token).key_id == "ak_1"
    with pytest.raises(InvalidSession):
        sessions.refresh(old.token)  # single use
    with pytest.raises(InvalidSession):
        sessions.validate(old.token)


def test_unknown_and_absurd_tokens(sessions: SessionStore) -> None:
    for token in ["", "nope", "x" * 10_000, "\udcff"]:
        with pytest.raises(InvalidSession):
            sessions.validate(token)


def test_revoke_key_ends_all_its_sessions_only(sessions: SessionStore) -> None:
    a1 = sessions.create("ak_a", frozenset({"signal:read"}))
    a2 = sessions.create("ak_a", frozenset({"signal:read"}))
    b = sessions.create("ak_b", frozenset({"signal:read"}))
    assert sessions.revoke_key("ak_a") == 2
    for t in (a1.token, a2.token):
        with pytest.raises(InvalidSession):
            sessions.validate(t)
    assert sessions.validate(b.token).key_id == "ak_b"
    assert sessions.revoke_key("ak_a") == 0


def test_refreshed_session_is_indexed_for_revocation(sessions: SessionStore, clock: ManualClock) -> None:
    old = sessions.create("ak_a", frozenset({"signal:read"}))
    new = sessions.refresh(old.token)
    assert sessions.revoke_key("ak_a") == 1
    with pytest.raises(InvalidSession):
        sessions.validate(new.token)


def test_service_login_and_bearer_auth(service: AuthService, clock: ManualClock) -> None:
    key_id, issued = login(service, clock, "hmac", "signal:read")
    p = service.authenticate({"Authorization": f"Bearer {issued.token}"}, "GET", "/x", b"", ["signal:read"])
    assert p.key_id == key_id and p.method == "session" and p.new_session is None
    with pytest.raises(InsufficientScope):
        service.authenticate({"Authorization": f"Bearer {issued.token}"}, "GET", "/x", b"", ["stream:read"])


def test_service_refreshes_an_expired_session_on_the_way(service: AuthService, clock: ManualClock,
                                                         event_log: EventLog) -> None:
    _, issued = login(service, clock)
    clock.advance(TTL + 1)
    event_log.clear()
    p = service.authenticate_session(issued.token, ["signal:read"])
    assert p.new_session is not None and p.new_session.token != issued.token
    frame = event_log.to_frame()
    assert ("Session_Store", "refresh", "ok") in set(zip(frame.component, frame.operation, frame.outcome,
                                                         strict=True))
    assert set(frame.flow) == {"session_auth"}
    with pytest.raises(InvalidSession):
        service.authenticate_session(issued.token)  # the old token was single use
    assert service.authenticate_session(p.new_session.token).new_session is None


def test_service_without_auto_refresh_reports_expiry(service: AuthService, clock: ManualClock) -> None:
    service.auto_refresh = False
    _, issued = login(service, clock)
    clock.advance(TTL)
    with pytest.raises(SessionExpired) as info:
        service.authenticate_session(issued.token)
    assert info.value.to_dict()["error"] == "session_expired"
    new = service.refresh(issued.token)
    assert service.authenticate_session(new.token).new_session is None


def test_revoking_a_key_ends_its_sessions_in_the_service(service: AuthService, clock: ManualClock) -> None:
    key_id, issued = login(service, clock)
    service.authenticate_session(issued.token)  # now cached in process
    service.revoke(key_id)
    with pytest.raises(InvalidSession):
        service.authenticate_session(issued.token)


def test_session_of_a_key_revoked_elsewhere_fails_the_key_check(service: AuthService,
                                                                clock: ManualClock) -> None:
    key_id, issued = login(service, clock)
    clock.advance(TTL + 1)
    service.store.revoke(key_id)  # e.g. the CLI in another process, no Redis cleanup
    with pytest.raises(RevokedKey):
        service.authenticate_session(issued.token)  # refresh re-checks the database, bypassing the cache


def test_logout(service: AuthService, clock: ManualClock) -> None:
    _, issued = login(service, clock)
    assert service.logout(issued.token) is True
    assert service.logout(issued.token) is False
    with pytest.raises(InvalidSession):
        service.authenticate_session(issued.token)


def test_invalid_store_config(clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="ttl"):
        SessionStore(None, clock, ttl=0)
    with pytest.raises(ValueError, match="refresh_window"):
        SessionStore(None, clock, refresh_window=-1)
