"""Auth_Service: every failure mode of the signature path, for both key types, on a ManualClock.

The nonce store runs on fakeredis and on the real Redis (``redis_client``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supreme.api.auth import (
    AuthService,
    AuthUnavailable,
    BadSignature,
    InsufficientScope,
    KeyStore,
    MalformedCredentials,
    MissingCredentials,
    ReplayedRequest,
    ReplayGuard,
    RevokedKey,
    SecretCipher,
    SessionStore,
    StaleTimestamp,
    UnknownKey,
    sign_request,
)
from supreme.clock import ManualClock
from supreme.db import Database
from supreme.events import EventLog

PATH = "/api/v1/trading/signal?symbol=BTC%2FUSDT"
BODY = b'{"timeframe":"1m"}'


@pytest.fixture
def service(tmp_path: Path, clock: ManualClock, redis_client: Any, namespace: str,
            event_log: EventLog) -> Iterator[AuthService]:
    db = Database.from_url(f"sqlite:///{tmp_path / 'auth.db'}")
    store = KeyStore(db, clock, SecretCipher(os.urandom(32)))
    yield AuthService(store, clock, replay=ReplayGuard(redis_client, namespace),
                      sessions=SessionStore(redis_client, clock, namespace=namespace, event_log=event_log),
                      event_log=event_log)
    db.close()


def now_ms(clock: ManualClock) -> int:
    return round(clock.now() * 1000)


@pytest.fixture(params=["ed25519", "hmac"])
def key(request: pytest.FixtureRequest, service: AuthService) -> tuple[str, str]:
    created = service.store.create(request.param, "signal:read,stream:read")
    return created.record.key_id, created.credential


def signed(key: tuple[str, str], clock: ManualClock, *, method: str = "POST", path: str = PATH,
           body: bytes = BODY, ts: int | None = None, nonce: str | None = None) -> dict[str, str]:
    return sign_request(key[0], key[1], method, path, body, now_ms(clock) if ts is None else ts, nonce)


def test_valid_request_is_accepted_with_the_key_scopes(service: AuthService, key: tuple[str, str],
                                                       clock: ManualClock) -> None:
    p = service.authenticate(signed(key, clock), "POST", PATH, BODY, ["signal:read"])
    assert p.key_id == key[0] and p.scopes == {"signal:read", "stream:read"} and p.method == "signature"


def test_headers_are_case_insensitive(service: AuthService, key: tuple[str, str], clock: ManualClock) -> None:
    headers = {k.lower(): v for k, v in signed(key, clock).items()}
    assert service.authenticate(headers, "POST", PATH, BODY).key_id == key[0]


@pytest.mark.parametrize("drop", ["X-Timestamp", "X-Signature"])
def test_missing_signature_header(service: AuthService, key: tuple[str, str], clock: ManualClock,
                                  drop: str) -> None:
    headers = signed(key, clock)
    del headers[drop]
    with pytest.raises(MissingCredentials, match=drop):
        service.authenticate(headers, "POST", PATH, BODY)


def test_no_credentials_at_all(service: AuthService) -> None:
    with pytest.raises(MissingCredentials) as info:
        service.authenticate({"Accept": "application/json"}, "GET", "/", b"")
    assert info.value.status == 401 and info.value.to_dict()["error"] == "missing_credentials"


def test_unknown_key(service: AuthService, clock: ManualClock) -> None:
    with pytest.raises(UnknownKey, match="ak_0000"):
        service.authenticate(signed(("ak_0000", "whatever"), clock), "POST", PATH, BODY)


def test_revoked_key(service: AuthService, key: tuple[str, str], clock: ManualClock) -> None:
    service.authenticate(signed(key, clock, nonce="a"), "POST", PATH, BODY)  # cached now
    service.revoke(key[0])
    with pytest.raises(RevokedKey) as info:
        service.authenticate(signed(key, clock, nonce="b"), "POST", PATH, BODY)
    assert info.value.status == 401 and info.value.code == "revoked_key"


@pytest.mark.parametrize("tamper", ["body", "path", "method", "timestamp", "nonce", "key"])
def test_tampered_request_has_bad_signature(service: AuthService, key: tuple[str, str], clock: ManualClock,
                                            tamper: str) -> None:
    headers = signed(key, clock, nonce="n1")
    method, path, body = "POST", PATH, BODY
    if tamper == "body":
        body = b'{"timeframe":"1h"}'
    elif tamper == "path":
        path = "/api/v1/trading/signal?symbol=ETH%2FUSDT"
    elif tamper == "method":
        method = "PUT"
    elif tamper == "timestamp":
        headers["X-Timestamp"] = str(int(headers["X-Timestamp"]) - 1)
    elif tamper == "nonce":
        headers["X-Nonce"] = "n2"
    else:  # a signature made with a different secret / private key
        other = service.store.create("hmac" if "BEGIN" not in key[1] else "ed25519", "signal:read")
        headers = sign_request(key[0], other.credential, "POST", PATH, BODY, now_ms(clock), "n1")
    with pytest.raises(BadSignature):
        service.authenticate(headers, method, path, body)


def test_signature_of_wrong_length_is_bad_not_a_crash(service: AuthService, key: tuple[str, str],
                                                      clock: ManualClock) -> None:
    headers = signed(key, clock)
    headers["X-Signature"] = "AAAA"
    with pytest.raises(BadSignature):
        service.authenticate(headers, "POST", PATH, BODY)
    headers["X-Timestamp"] = "soon"
    with pytest.raises(MalformedCredentials):
        service.authenticate(headers, "POST", PATH, BODY)


def test_timestamp_window_edges(service: AuthService, key: tuple[str, str], clock: ManualClock) -> None:
    t = now_ms(clock)
    service.authenticate(signed(key, clock, ts=t - 5000), "POST", PATH, BODY)  # oldest accepted
    service.authenticate(signed(key, clock, ts=t + 1000), "POST", PATH, BODY)  # furthest future accepted
    with pytest.raises(StaleTimestamp, match="older"):
        service.authenticate(signed(key, clock, ts=t - 5001), "POST", PATH, BODY)
    with pytest.raises(StaleTimestamp, match="ahead"):
        service.authenticate(signed(key, clock, ts=t + 1001), "POST", PATH, BODY)


def test_request_goes_stale_as_the_clock_moves(service: AuthService, key: tuple[str, str],
                                               clock: ManualClock) -> None:
    headers = signed(key, clock)
    clock.advance(5.001)
    with pytest.raises(StaleTimestamp):
        service.authenticate(headers, "POST", PATH, BODY)


def test_replay_is_refused_and_nonce_allows_identical_requests(service: AuthService, key: tuple[str, str],
                                                                clock: ManualClock) -> None:
    headers = signed(key, clock)
    service.authenticate(headers, "POST", PATH, BODY)
    clock.advance(2.0)
    with pytest.raises(ReplayedRequest):
        service.authenticate(headers, "POST", PATH, BODY)
    # Two otherwise identical requests in the same millisecond, told apart by their nonces:
    a, b = signed(key, clock, nonce="one"), signed(key, clock, nonce="two")
    service.authenticate(a, "POST", PATH, BODY)
    service.authenticate(b, "POST", PATH, BODY)
    with pytest.raises(ReplayedRequest):
        service.authenticate(a, "POST", PATH, BODY)


def test_forged_request_does_not_burn_the_real_one(service: AuthService, key: tuple[str, str],
                                                   clock: ManualClock) -> None:
    good = signed(key, clock)
    forged = dict(good, **{"X-Signature": signed(key, clock, body=b"other")["X-Signature"]})
    with pytest.raises(BadSignature):
        service.authenticate(forged, "POST", PATH, BODY)
    assert service.authenticate(good, "POST", PATH, BODY).key_id == key[0]


def test_insufficient_scope_is_403(service: AuthService, key: tuple[str, str], clock: ManualClock) -> None:
    with pytest.raises(InsufficientScope, match="admin") as info:
        service.authenticate(signed(key, clock), "POST", PATH, BODY, ["signal:read", "admin"])
    assert info.value.status == 403 and info.value.to_dict()["error"] == "insufficient_scope"


def test_admin_scope_grants_everything(service: AuthService, clock: ManualClock) -> None:
    created = service.store.create("ed25519", "admin")
    k = (created.record.key_id, created.credential)
    assert service.authenticate(signed(k, clock), "POST", PATH, BODY, ["stream:read", "x:y"]).key_id == k[0]


def test_key_record_is_cached_for_five_clock_seconds(service: AuthService, key: tuple[str, str],
                                                     clock: ManualClock, event_log: EventLog) -> None:
    for i in range(3):
        service.authenticate(signed(key, clock, nonce=f"n{i}"), "POST", PATH, BODY)
    frame = event_log.to_frame()
    db_rows = frame[(frame.component == "Database") & (frame.operation == "lookup")]
    assert len(db_rows) == 1
    # A revocation made elsewhere (straight in the store) is seen once the cache entry expires.
    service.store.revoke(key[0])
    service.authenticate(signed(key, clock, nonce="still-cached"), "POST", PATH, BODY)
    clock.advance(5.0)
    with pytest.raises(RevokedKey):
        service.authenticate(signed(key, clock, nonce="after"), "POST", PATH, BODY)


def test_event_log_follows_the_api_key_diagram(service: AuthService, key: tuple[str, str],
                                               clock: ManualClock, event_log: EventLog) -> None:
    service.authenticate(signed(key, clock), "POST", PATH, BODY, ["signal:read"], request_id="r-1")
    frame = event_log.to_frame()
    steps = list(zip(frame.component, frame.operation, frame.outcome, strict=True))
    assert steps == [
        ("API_Gateway", "validate_key", "ok"),
        ("Cache_Manager", "get", "miss"),
        ("Database", "lookup", "ok"),
        ("Cache_Manager", "set", "ok"),
        ("Auth_Service", "validate_signature", "ok"),
        ("Auth_Service", "check_permissions", "ok"),
    ]
    assert set(frame.flow) == {"api_key_auth"} and set(frame.request_id) == {"r-1"}


def test_hmac_key_without_master_key_on_server_is_503(tmp_path: Path, clock: ManualClock) -> None:
    db = Database.from_url(f"sqlite:///{tmp_path / 'a.db'}")
    created = KeyStore(db, clock, SecretCipher(os.urandom(32))).create("hmac", "signal:read")
    service = AuthService(KeyStore(db, clock, cipher=None), clock)
    headers = sign_request(created.record.key_id, created.credential, "GET", "/", b"",
                           round(clock.now() * 1000))
    with pytest.raises(AuthUnavailable) as info:
        service.authenticate(headers, "GET", "/", b"")
    assert info.value.status == 503
    db.close()


def test_unreachable_nonce_store_refuses(tmp_path: Path, clock: ManualClock) -> None:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    db = Database.from_url(f"sqlite:///{tmp_path / 'a.db'}")
    store = KeyStore(db, clock)
    created = store.create("ed25519", "signal:read")
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2,
                       retry=Retry(NoBackoff(), 0))
    service = AuthService(store, clock, replay=ReplayGuard(dead))
    headers = sign_request(created.record.key_id, created.credential, "GET", "/", b"",
                           round(clock.now() * 1000))
    with pytest.raises(AuthUnavailable, match="nonce store"):
        service.authenticate(headers, "GET", "/", b"")
    db.close()


def test_invalid_service_config() -> None:
    with pytest.raises(ValueError, match="recv_window_ms"):
        AuthService(None, ManualClock(), recv_window_ms=0)  # type: ignore[arg-type]


def test_check_signature_is_the_in_process_part_with_the_cached_key(
        service: AuthService, key: tuple[str, str], clock: ManualClock, event_log: EventLog) -> None:
    headers = {k.lower(): v for k, v in signed(key, clock, nonce="c1").items()}
    first, record, message = service.check_signature(headers, "POST", PATH, BODY)
    again = service.check_signature(headers, "POST", PATH, BODY)  # no replay store here: a pure check
    assert first.key_id == record.key_id == key[0] and again[2] == message
    gets = event_log.to_frame().query("component == 'Cache_Manager' and operation == 'get'")["outcome"]
    assert list(gets) == ["miss", "hit"]  # the second check used the cached public key / secret
    assert service.authenticate(headers, "POST", PATH, BODY).key_id == key[0]
    with pytest.raises(ReplayedRequest):  # the full path still refuses the replay
        service.authenticate(headers, "POST", PATH, BODY)
    with pytest.raises(BadSignature):
        service.check_signature(headers, "POST", PATH, BODY + b" ")
    mixed = {("X-Api-Key" if k == "x-api-key" else k): v for k, v in headers.items()}
    assert service.check_signature(mixed, "POST", PATH, BODY)[0].key_id == key[0]
