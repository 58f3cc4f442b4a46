"""The Human_Operator acknowledges and closes incidents over HTTP (Error Escalation diagram)."""

from __future__ import annotations

import json
from typing import Any

import fakeredis
import pytest
from fastapi.testclient import TestClient

from supreme.api.app import create_app
from supreme.api.auth import CreatedKey
from supreme.api.services import Services
from supreme.clock import ManualClock
from tests.api.test_app import assert_error, signed


@pytest.fixture
def svc(cut_svc: Services) -> Services:
    return cut_svc


_n = iter(range(10**9))


def _post(client: TestClient, svc: Services, key: CreatedKey, path: str, body: Any = b"") -> Any:
    raw, headers = signed(svc, key, body, path=path, nonce=f"ack{next(_n)}")
    return client.post(path, content=raw, headers=headers)


def _open_incident(svc: Services, server: fakeredis.FakeServer) -> int:
    server.connected = False
    for i in range(8):
        svc.cache.set(f"ack:k{i}", {"i": i})
    assert svc.resilience is not None
    svc.resilience.step()
    active = svc.resilience.snapshot()["active"]
    return int(next(a["id"] for a in active if a["rule"] == "breaker_open:cache_L2"))


def test_operator_acknowledges_then_resolves(svc: Services, server: fakeredis.FakeServer,
                                             clock: ManualClock) -> None:
    key = svc.auth.store.create("ed25519", "alerts:write", label="oncall")
    client = TestClient(create_app(svc))
    inc = _open_incident(svc, server)
    server.connected = True  # signed requests need the nonce store (Redis): auth fails closed without it
    resp = _post(client, svc, key, f"/api/v1/alerts/{inc}/acknowledge")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "acknowledged" and body["by"] == key.record.key_id
    assert body["acknowledged_at"] == pytest.approx(clock.now())
    clock.advance(10_000.0)  # far past every rung's timeout: an acknowledged incident no longer escalates
    assert svc.resilience is not None
    svc.resilience.alerts.tick()
    after = next(a for a in client.get("/api/v1/alerts").json()["active"] if a["id"] == inc)
    assert after["level"] == 0 and after["status"] == "acknowledged"
    # acknowledging twice is an illegal step of the lifecycle, refused as JSON
    assert_error(_post(client, svc, key, f"/api/v1/alerts/{inc}/acknowledge"), 409, "invalid_transition")
    resp = _post(client, svc, key, f"/api/v1/alerts/{inc}/resolve",
                 json.dumps({"note": "redis restarted by hand"}).encode())
    assert resp.status_code == 200 and resp.json()["status"] == "resolved"
    assert_error(_post(client, svc, key, f"/api/v1/alerts/{inc}/resolve"), 409, "invalid_transition")
    history = svc.resilience.alerts.incidents[inc].history
    assert [h[1] for h in history][-2:] == ["acknowledged", "resolved"]
    assert history[-1][2] == "redis restarted by hand"
    ops = svc.event_log.to_frame()
    assert {"acknowledge", "resolve"} <= set(ops.loc[ops.component == "Human_Operator", "operation"])


def test_refusals_are_json(svc: Services, server: fakeredis.FakeServer) -> None:
    reader = svc.auth.store.create("ed25519", "signal:read", label="reader")
    oncall = svc.auth.store.create("ed25519", "alerts:write", label="oncall")
    client = TestClient(create_app(svc))
    inc = _open_incident(svc, server)
    server.connected = True  # the nonce store must answer for the signed requests below
    assert_error(client.post(f"/api/v1/alerts/{inc}/acknowledge"), 401, "missing_credentials")
    assert_error(_post(client, svc, reader, f"/api/v1/alerts/{inc}/acknowledge"), 403, "insufficient_scope")
    assert_error(_post(client, svc, oncall, "/api/v1/alerts/99999/acknowledge"), 404, "unknown_incident")
    assert_error(_post(client, svc, oncall, f"/api/v1/alerts/{inc}/resolve", b"{not json"), 422,
                 "invalid_body")
    assert_error(_post(client, svc, oncall, f"/api/v1/alerts/{inc}/resolve",
                       json.dumps({"note": 5}).encode()), 422, "invalid_body")
    resp = _post(client, svc, oncall, "/api/v1/alerts/abc/acknowledge")
    assert resp.status_code == 422 and "error" in resp.json()
    assert svc.resilience is not None
    assert svc.resilience.alerts.incidents[inc].status.value == "open"  # nothing above changed it
