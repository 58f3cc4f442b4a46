"""The FastAPI dependencies end to end with TestClient: JSON errors, sessions, 429 with Retry-After."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

from supreme.api.auth import (
    AuthService,
    KeyStore,
    Principal,
    ReplayGuard,
    SecretCipher,
    SessionStore,
    sign_request,
)
from supreme.api.deps import SESSION_HEADER, AuthGateway, auth_router, install, rate_limit, require_auth
from supreme.api.ratelimit import InMemoryRateLimiter
from supreme.clock import ManualClock
from supreme.db import Database

SIGNAL = "/api/v1/trading/signal"


@pytest.fixture
def setup(tmp_path: Path, clock: ManualClock) -> Iterator[tuple[TestClient, AuthService]]:
    db = Database.from_url(f"sqlite:///{tmp_path / 'auth.db'}")
    redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    service = AuthService(KeyStore(db, clock, SecretCipher(os.urandom(32))), clock,
                          replay=ReplayGuard(redis),
                          sessions=SessionStore(redis, clock, ttl=60, refresh_window=600))
    app = FastAPI()
    install(app, AuthGateway(service, key_limiter=InMemoryRateLimiter(1.0, 3, clock),
                             ip_limiter=InMemoryRateLimiter(100.0, 100, clock)))
    app.include_router(auth_router())

    @app.post(SIGNAL)
    async def signal(request: Request, p: Principal = Depends(require_auth("signal:read")),
                     _: Any = Depends(rate_limit)) -> dict[str, Any]:
        return {"key_id": p.key_id, "echo": (await request.json())}

    @app.get("/admin")
    async def admin(p: Principal = Depends(require_auth(["admin"]))) -> dict[str, str]:
        return {"key_id": p.key_id}

    with TestClient(app) as client:
        yield client, service
    db.close()


def _key(service: AuthService, key_type: str = "ed25519", scopes: str = "signal:read") -> tuple[str, str]:
    created = service.store.create(key_type, scopes)
    return created.record.key_id, created.credential


def _signed_post(client: TestClient, clock: ManualClock, key: tuple[str, str], path: str,
                 payload: dict[str, Any],
                 nonce: str | None = None) -> Any:
    body = json.dumps(payload).encode()
    headers = sign_request(key[0], key[1], "POST", path, body, round(clock.now() * 1000), nonce)
    return client.post(path, content=body, headers={**headers, "Content-Type": "application/json"})


@pytest.mark.parametrize("key_type", ["ed25519", "hmac"])
def test_signed_request_passes_and_body_is_still_readable(setup: Any, clock: ManualClock,
                                                          key_type: str) -> None:
    client, service = setup
    key = _key(service, key_type)
    r = _signed_post(client, clock, key, SIGNAL + "?symbol=BTC%2FUSDT&tf=1m", {"x": 1})
    assert r.status_code == 200, r.text
    assert r.json() == {"key_id": key[0], "echo": {"x": 1}}
    assert r.headers["RateLimit-Limit"] == "3"


def test_errors_are_bare_json_with_codes(setup: Any, clock: ManualClock) -> None:
    client, service = setup
    r = client.post(SIGNAL, json={})
    assert r.status_code == 401 and r.json()["error"] == "missing_credentials" and "message" in r.json()
    assert "WWW-Authenticate" in r.headers
    key = _key(service)
    body = b"{}"
    headers = sign_request(key[0], key[1], "POST", SIGNAL, body,
                           round(clock.now() * 1000))
    r = client.post(SIGNAL, content=b'{"tampered":1}', headers=headers)
    assert (r.status_code, r.json()["error"]) == (401, "bad_signature")
    r = client.post(SIGNAL, content=body, headers=headers)
    assert r.status_code == 200
    r = client.post(SIGNAL, content=body, headers=headers)
    assert (r.status_code, r.json()["error"]) == (401, "replayed_request")
    r = client.get("/admin", headers=sign_request(key[0], key[1], "GET", "/admin", b"",
                           round(clock.now() * 1000)))
    assert (r.status_code, r.json()["error"]) == (403, "insufficient_scope")


def test_per_key_limit_gives_429_with_retry_after(setup: Any, clock: ManualClock) -> None:
    client, service = setup
    key = _key(service)
    codes = [_signed_post(client, clock, key, SIGNAL, {}, nonce=f"n{i}").status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]
    r = _signed_post(client, clock, key, SIGNAL, {}, nonce="n9")
    assert r.json()["error"] == "rate_limited" and r.headers["Retry-After"] == "1"
    clock.advance(1.0)
    assert _signed_post(client, clock, key, SIGNAL, {}, nonce="n10").status_code == 200


def test_session_login_use_refresh_logout(setup: Any, clock: ManualClock) -> None:
    client, service = setup
    key = _key(service, "hmac", "signal:read,stream:read")
    r = _signed_post(client, clock, key, "/api/v1/auth/session", {})
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    assert r.json()["scopes"] == ["signal:read", "stream:read"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.post(SIGNAL, json={"a": 1}, headers=bearer).status_code == 200
    clock.advance(61)  # expired, refreshable: refreshed on the way, new token in the header
    r = client.post(SIGNAL, json={"a": 2}, headers=bearer)
    assert r.status_code == 200 and r.headers[SESSION_HEADER] != token
    new = r.headers[SESSION_HEADER]
    r = client.post(SIGNAL, json={}, headers=bearer)
    assert (r.status_code, r.json()["error"]) == (401, "invalid_session")
    r = client.post("/api/v1/auth/refresh", headers={"Authorization": f"Bearer {new}"})
    assert r.status_code == 200
    newer = r.json()["token"]
    assert client.delete("/api/v1/auth/session", headers={"Authorization": f"Bearer {newer}"}).json() == {
        "ended": True}
    assert client.post(SIGNAL, json={}, headers={"Authorization": f"Bearer {newer}"}).status_code == 401
    assert client.post("/api/v1/auth/refresh").json()["error"] == "missing_credentials"


def test_app_without_install_gives_clear_500(clock: ManualClock) -> None:
    app = FastAPI()

    @app.get("/x")
    async def x(p: Principal = Depends(require_auth("signal:read"))) -> dict[str, str]:
        return {}

    with TestClient(app) as client:
        r = client.get("/x")
    assert r.status_code == 500 and "install" in r.text


def test_per_address_limit_before_auth(tmp_path: Path, clock: ManualClock) -> None:
    db = Database.from_url(f"sqlite:///{tmp_path / 'a.db'}")
    service = AuthService(KeyStore(db, clock), clock)
    app = FastAPI()
    install(app, AuthGateway(service, ip_limiter=InMemoryRateLimiter(0.5, 2, clock)))

    @app.get("/open", dependencies=[Depends(rate_limit)])
    async def open_route() -> dict[str, bool]:
        return {"ok": True}

    with TestClient(app) as client:
        codes = [client.get("/open").status_code for _ in range(3)]
        denied = client.get("/open")
    assert codes == [200, 200, 429]
    assert denied.headers["Retry-After"] == "2" and denied.json()["error"] == "rate_limited"
    assert "testclient" in denied.json()["message"]
    db.close()


@pytest.mark.parametrize("gateway_sets_id", [True, False])
def test_steps_share_the_gateway_request_id(tmp_path: Path, clock: ManualClock,
                                            gateway_sets_id: bool) -> None:
    from starlette.middleware.base import BaseHTTPMiddleware

    from supreme.events import EventLog

    log = EventLog(run_id="deps")
    db = Database.from_url(f"sqlite:///{tmp_path / 'auth.db'}")
    redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    service = AuthService(KeyStore(db, clock, SecretCipher(os.urandom(32))), clock, replay=ReplayGuard(redis),
                          event_log=log)
    app = FastAPI()
    install(app, AuthGateway(service, key_limiter=InMemoryRateLimiter(1.0, 3, clock, event_log=log),
                             ip_limiter=InMemoryRateLimiter(100.0, 100, clock, event_log=log)))
    seen: list[str] = []

    @app.post(SIGNAL)
    async def signal(request: Request, _: Any = Depends(rate_limit),
                     p: Principal = Depends(require_auth("signal:read"))) -> dict[str, Any]:
        seen.append(request.state.request_id)
        return {"key_id": p.key_id}

    if gateway_sets_id:
        async def tag(request: Request, call_next: Any) -> Any:
            request.state.request_id = "gw-42"
            return await call_next(request)

        app.add_middleware(BaseHTTPMiddleware, dispatch=tag)
    try:
        with TestClient(app) as client:
            key = _key(service)
            assert _signed_post(client, clock, key, SIGNAL, {"x": 1}).status_code == 200
    finally:
        db.close()
    rid = seen[0]
    assert rid == "gw-42" if gateway_sets_id else rid
    frame = log.to_frame()
    limiter = frame[frame["component"] == "Rate_Limiter"]
    assert sorted(limiter["key"].str.split(":").str[0]) == ["ip", "key"]  # both limits, one request
    assert set(limiter["request_id"]) == {rid}
    auth = frame[frame["component"] == "Auth_Service"]
    assert len(auth) >= 1 and set(auth["request_id"]) == {rid}
