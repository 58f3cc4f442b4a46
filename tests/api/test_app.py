"""The gateway on embedded back-ends (fakeredis + SQLite): routes, every bad-input case, sessions, limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from fastapi.testclient import TestClient

from supreme.api.app import create_app
from supreme.api.auth import CreatedKey, sign_request
from supreme.api.services import Services
from supreme.clock import ManualClock
from supreme.config import Settings

SIGNAL = "/api/v1/trading/signal"


# -- helpers shared with the other test modules of the API -------------------------------------------------
def build_services(tmp_path: Path, clock: ManualClock, *, database_url: str | None = None,
                   redis_client: Any = None, namespace: str = "supreme:", **kwargs: Any) -> Services:
    """Services over the SPX sample with explicit back-ends (never the environment)."""
    db = database_url or f"sqlite:///{tmp_path / 'supreme.db'}"
    settings = Settings(redis_url=None, database_url=db, data_dir=tmp_path)
    client = redis_client if redis_client is not None else fakeredis.FakeRedis()
    kwargs.setdefault("symbols", ["SPX"])
    return Services.from_settings(settings, clock, redis_client=client, namespace=namespace, **kwargs)


def signed(svc: Services, key: CreatedKey, body: Any, *, path: str = SIGNAL, method: str = "POST",
           nonce: str | None = None, ts_offset_ms: int = 0) -> tuple[bytes, dict[str, str]]:
    """Body bytes and signature headers for one request."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    ts = int(svc.clock.now() * 1000) + ts_offset_ms
    headers = sign_request(key.record.key_id, key.credential, method, path, raw, ts, nonce=nonce)
    headers["content-type"] = "application/json"
    return raw, headers


_nonce = iter(range(10**9))


def post_signal(client: TestClient, svc: Services, key: CreatedKey, body: Any) -> Any:
    """A correctly signed signal request (fresh nonce)."""
    raw, headers = signed(svc, key, body, nonce=f"n{next(_nonce)}")
    return client.post(SIGNAL, content=raw, headers=headers)


def assert_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    """The response is ``status`` with JSON ``{"error": code, "message": ...}``."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["error"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    return dict(body)


# -- fixtures ---------------------------------------------------------------------------------------------
@pytest.fixture
def client(svc: Services) -> TestClient:
    return TestClient(create_app(svc), raise_server_exceptions=True)


@pytest.fixture
def key(svc: Services) -> CreatedKey:
    return svc.auth.store.create("ed25519", "signal:read", label="test")


# -- happy paths ------------------------------------------------------------------------------------------
def test_signal_ok_and_request_id(client: TestClient, svc: Services, key: CreatedKey) -> None:
    resp = post_signal(client, svc, key, {"symbol": "SPX", "timeframe": "1d"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["symbol"] == "SPX" and body["timeframe"] == "1d"
    assert body["action"] in ("BUY", "SELL", "HOLD")
    assert body["meta"]["request_id"] == resp.headers["x-request-id"]
    # as_of is the close of the last recorded candle (the replay starts there by default)
    assert body["as_of"] == svc.markets["SPX"].last_close_ms
    assert resp.headers["ratelimit-limit"]


def test_health_symbols_metrics(client: TestClient, svc: Services, key: CreatedKey) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    symbols = client.get("/api/v1/symbols").json()
    assert [m["symbol"] for m in symbols["symbols"]] == ["SPX"]
    assert symbols["symbols"][0]["timeframe"] == "1d"
    assert post_signal(client, svc, key, {"symbol": "SPX"}).status_code == 200
    text = client.get("/metrics").text
    assert 'supreme_requests_total{endpoint="POST /api/v1/trading/signal",status="200"} 1.0' in text
    assert 'supreme_cache_misses_total{tier="signal"} 1.0' in text


def test_ready_when_all_up(client: TestClient) -> None:
    resp = client.get("/ready")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ready"
    assert {d["name"]: d["status"] for d in body["dependencies"]} == {
        "L1": "ok", "L2": "ok", "L3": "ok", "key_store": "ok", "session_store": "ok"}


def test_openapi_documents_errors(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    op = spec["paths"][SIGNAL]["post"]
    for code in ("400", "401", "403", "413", "422", "429", "503"):
        assert op["responses"][code]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert "SignalRequest" in spec["components"]["schemas"]


# -- bad input: each case its own 4xx ----------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "status", "code"), [
    (b"{not json", 400, "malformed_json"),
    (b'{"timeframe": "1d"}', 422, "validation_error"),
    (b'{"symbol": "SPX", "extra": 1}', 422, "validation_error"),
    (b'{"symbol": "SPX", "timeframe": "one day"}', 422, "validation_error"),
    (b'{"symbol": ""}', 422, "validation_error"),
    (b'[1, 2]', 422, "validation_error"),
    (b'{"symbol": "DOGE"}', 422, "unknown_symbol"),
    (b'{"symbol": "SPX", "timeframe": "1h"}', 422, "unknown_timeframe"),
])
def test_bad_bodies(client: TestClient, svc: Services, key: CreatedKey, raw: bytes, status: int,
                    code: str) -> None:
    body, headers = signed(svc, key, raw, nonce="b1")
    assert_error(client.post(SIGNAL, content=body, headers=headers), status, code)


def test_oversized_body_is_413(client: TestClient, svc: Services, key: CreatedKey) -> None:
    raw = json.dumps({"symbol": "SPX", "pad": "x" * 20_000}).encode()
    body, headers = signed(svc, key, raw)
    assert_error(client.post(SIGNAL, content=body, headers=headers), 413, "body_too_large")

    def chunks() -> Any:  # no Content-Length: the gateway counts the bytes
        for _ in range(40):
            yield b" " * 1024

    resp = client.post(SIGNAL, content=chunks(), headers={"content-type": "application/json"})
    assert_error(resp, 413, "body_too_large")


def test_credentials_refused(client: TestClient, svc: Services, key: CreatedKey) -> None:
    good = {"symbol": "SPX"}
    raw = json.dumps(good).encode()
    assert_error(client.post(SIGNAL, content=raw, headers={"content-type": "application/json"}),
                 401, "missing_credentials")
    # forged: signed with another key's private key under this key id
    other = svc.auth.store.create("ed25519", "signal:read")
    forged = sign_request(key.record.key_id, other.credential, "POST", SIGNAL, raw,
                          int(svc.clock.now() * 1000), nonce="f1")
    assert_error(client.post(SIGNAL, content=raw, headers=forged), 401, "bad_signature")
    # tampered body under a valid signature
    body, headers = signed(svc, key, good, nonce="t1")
    assert_error(client.post(SIGNAL, content=body.replace(b"SPX", b"SPY"), headers=headers),
                 401, "bad_signature")
    # stale and future timestamps
    body, headers = signed(svc, key, good, nonce="s1", ts_offset_ms=-60_000)
    assert_error(client.post(SIGNAL, content=body, headers=headers), 401, "stale_timestamp")
    body, headers = signed(svc, key, good, nonce="s2", ts_offset_ms=60_000)
    assert_error(client.post(SIGNAL, content=body, headers=headers), 401, "stale_timestamp")
    # replayed: the same signed request twice
    body, headers = signed(svc, key, good, nonce="r1")
    assert client.post(SIGNAL, content=body, headers=headers).status_code == 200
    assert_error(client.post(SIGNAL, content=body, headers=headers), 401, "replayed_request")
    # malformed headers and unknown keys
    bad = {**headers, "X-Timestamp": "yesterday"}
    assert_error(client.post(SIGNAL, content=body, headers=bad), 401, "malformed_credentials")
    bad = {**headers, "X-Signature": "%%%"}
    assert_error(client.post(SIGNAL, content=body, headers=bad), 401, "malformed_credentials")
    unknown = sign_request("ak_0000000000000000", key.credential, "POST", SIGNAL, raw,
                           int(svc.clock.now() * 1000), nonce="u1")
    assert_error(client.post(SIGNAL, content=raw, headers=unknown), 401, "unknown_key")
    # revoked
    svc.auth.revoke(other.record.key_id)
    revoked = sign_request(other.record.key_id, other.credential, "POST", SIGNAL, raw,
                           int(svc.clock.now() * 1000), nonce="v1")
    assert_error(client.post(SIGNAL, content=raw, headers=revoked), 401, "revoked_key")
    # garbage bearer tokens
    for token in ("nope", "x" * 300):
        resp = client.post(SIGNAL, content=raw, headers={"authorization": f"Bearer {token}"})
        assert_error(resp, 401, "invalid_session")


def test_insufficient_scope_is_403(client: TestClient, svc: Services) -> None:
    stream_only = svc.auth.store.create("ed25519", "stream:read")
    body, headers = signed(svc, stream_only, {"symbol": "SPX"})
    assert_error(client.post(SIGNAL, content=body, headers=headers), 403, "insufficient_scope")


def test_unknown_route_and_method(client: TestClient) -> None:
    assert_error(client.get("/api/v1/nothing"), 404, "not_found")
    assert_error(client.get(SIGNAL), 405, "method_not_allowed")


# -- sessions ---------------------------------------------------------------------------------------------
def test_session_login_use_expire_refresh_logout(client: TestClient, svc: Services, key: CreatedKey,
                                                 clock: ManualClock) -> None:
    path = "/api/v1/auth/session"
    body, headers = signed(svc, key, b"", path=path, nonce="login1")
    resp = client.post(path, content=body, headers=headers)
    assert resp.status_code == 200, resp.text
    token = resp.json()["token"]
    assert resp.json()["scopes"] == ["signal:read"]
    bearer = {"authorization": f"Bearer {token}"}
    assert client.post(SIGNAL, json={"symbol": "SPX"}, headers=bearer).status_code == 200
    # expired but refreshable: answered, with a new token in X-Session-Token
    clock.advance(901.0)
    resp = client.post(SIGNAL, json={"symbol": "SPX"}, headers=bearer)
    assert resp.status_code == 200, resp.text
    new_token = resp.headers["x-session-token"]
    assert new_token != token
    assert_error(client.post(SIGNAL, json={"symbol": "SPX"}, headers=bearer), 401, "invalid_session")
    # explicit refresh path
    resp = client.post("/api/v1/auth/refresh", headers={"authorization": f"Bearer {new_token}"})
    assert resp.status_code == 200, resp.text
    third = resp.json()["token"]
    # logout ends it
    assert client.delete(path, headers={"authorization": f"Bearer {third}"}).json() == {"ended": True}
    assert_error(client.post(SIGNAL, json={"symbol": "SPX"}, headers={"authorization": f"Bearer {third}"}),
                 401, "invalid_session")
    # past the refresh window: log in again
    body, headers = signed(svc, key, b"", path=path, nonce="login2")
    fourth = client.post(path, content=body, headers=headers).json()["token"]
    clock.advance(900.0 + 86_400.0 + 1.0)
    assert_error(client.post(SIGNAL, json={"symbol": "SPX"}, headers={"authorization": f"Bearer {fourth}"}),
                 401, "invalid_session")


def test_login_needs_signature(client: TestClient) -> None:
    assert_error(client.post("/api/v1/auth/session"), 401, "missing_credentials")
    assert_error(client.post("/api/v1/auth/refresh"), 401, "missing_credentials")


# -- rate limits ------------------------------------------------------------------------------------------
def test_rate_limited_per_address(tmp_path: Path, clock: ManualClock) -> None:
    services = build_services(tmp_path, clock, ip_rate=1.0, ip_burst=2)
    try:
        client = TestClient(create_app(services))
        assert [client.get("/api/v1/symbols").status_code for _ in range(2)] == [200, 200]
        resp = client.get("/api/v1/symbols")
        assert_error(resp, 429, "rate_limited")
        assert int(resp.headers["retry-after"]) >= 1
        clock.advance(1.0)
        assert client.get("/api/v1/symbols").status_code == 200
    finally:
        services.close()


def test_rate_limited_per_key(tmp_path: Path, clock: ManualClock) -> None:
    services = build_services(tmp_path, clock, key_rate=1.0, key_burst=1)
    try:
        client = TestClient(create_app(services))
        k = services.auth.store.create("ed25519", "signal:read")
        assert post_signal(client, services, k, {"symbol": "SPX"}).status_code == 200
        assert_error(post_signal(client, services, k, {"symbol": "SPX"}), 429, "rate_limited")
    finally:
        services.close()
