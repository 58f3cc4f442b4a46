"""Retry, ErrorRecovery, ErrorHandler and AlertManager wired into the running service (issue 17 part 1)."""

from __future__ import annotations

from pathlib import Path

import fakeredis
import pytest
from fastapi.testclient import TestClient

from supreme.api.app import create_app
from supreme.api.services import Services
from supreme.clock import ManualClock
from supreme.resilience.breaker_state import State
from tests.api.test_app import build_services


@pytest.fixture
def svc(cut_svc: Services) -> Services:
    return cut_svc


def _fail_l2(svc: Services, n: int = 8) -> None:
    """Cache writes while L2 is cut: journalled, and enough failures to open its breaker."""
    for i in range(n):
        svc.cache.set(f"resilience:k{i}", {"i": i})


def test_every_part_is_built_and_the_lifespan_runs_the_loop(svc: Services) -> None:
    res = svc.resilience
    assert res is not None
    assert set(res.handlers) == {"L2", "L3"}
    assert [p.name for p in res.recovery.procedures("L2")] == ["L2_reconnect"]
    assert {r for r in res.alerts.rules} == {"breaker_open:cache_L2", "breaker_open:cache_L3"}
    with TestClient(create_app(svc)) as client:
        assert client.get("/health").status_code == 200
        task = res._task
        assert task is not None and not task.done()
    assert task.done() and res.steps >= 1 and res.errors == []


def test_l2_cut_retries_opens_the_breaker_escalates_and_resolves(svc: Services, clock: ManualClock,
                                                                 server: fakeredis.FakeServer) -> None:
    res = svc.resilience
    assert res is not None
    server.connected = False
    _fail_l2(svc)
    breaker = svc.breakers["L2"]
    assert breaker.state is State.OPEN
    retries = [e for e in svc.event_log.to_frame().itertuples() if e.operation == "retry"]
    assert any(e.outcome == "retry" for e in retries)  # a lost connection was retried once
    assert any(e.outcome == "rejected" for e in retries)  # never retried into the open breaker

    res.step()  # reconnect fails -> critical incident from recovery, and the breaker rule fires
    snap = res.snapshot()
    rules = {a["rule"] for a in snap["active"]}
    assert "breaker_open:cache_L2" in rules and "error:Error_Recovery" in rules
    assert all(a["severity"] == "critical" and a["level"] == 0 and a["level_name"] == "on-call"
               for a in snap["active"])
    assert snap["breakers"]["cache_L2"] == "open"

    clock.advance(301.0)  # nobody acknowledged within the on-call rung's 300 s
    res.step()
    assert {a["level_name"] for a in res.snapshot()["active"]} == {"lead"}

    server.connected = True
    res.step()  # reconnect works -> HALF_OPEN; the rule still fires until probe calls close it
    assert breaker.state is State.HALF_OPEN
    for i in range(3):
        svc.cache.get(f"resilience:probe{i}")
    assert breaker.state is State.CLOSED
    res.step()
    assert res.snapshot()["active"] == []
    recent = res.snapshot()["recent"]
    assert recent and all(a["status"] == "resolved" for a in recent)
    # every write made during the cut reached L2 once it came back (the write-back journal replayed)
    raw = fakeredis.FakeRedis(server=server)
    assert all(raw.exists(f"supreme:cache:resilience:k{i}") for i in range(8))


def test_alerts_route_and_metrics(svc: Services, server: fakeredis.FakeServer) -> None:
    client = TestClient(create_app(svc))
    body = client.get("/api/v1/alerts").json()
    assert body["active"] == [] and body["breakers"] == {"cache_L2": "closed", "cache_L3": "closed"}
    server.connected = False
    _fail_l2(svc)
    assert svc.resilience is not None
    svc.resilience.step()
    body = client.get("/api/v1/alerts").json()
    assert {a["rule"] for a in body["active"]} >= {"breaker_open:cache_L2"}
    text = client.get("/metrics").text
    assert 'supreme_alerts_active{severity="critical"} 2.0' in text
    assert 'supreme_alert_incidents_total{rule="breaker_open:cache_L2",severity="critical"} 1.0' in text
    assert 'supreme_alert_escalation_level{key="",rule="breaker_open:cache_L2"} 0.0' in text
    assert 'supreme_pool_connections{pool="redis",state="idle"}' in text


@pytest.mark.real_postgres
def test_postgres_pool_statistics_are_exported(tmp_path: Path, clock: ManualClock,
                                                real_postgres_url: str) -> None:
    svc = build_services(tmp_path, clock, database_url=real_postgres_url)
    try:
        svc.cache.set("resilience:pg", {"x": 1})  # L3 opens its database lazily
        text = TestClient(create_app(svc)).get("/metrics").text
        for pool in ("keys", "L3"):
            for state in ("in_use", "idle", "waiting"):
                assert f'supreme_pool_connections{{pool="{pool}",state="{state}"}}' in text
    finally:
        svc.close()


def test_l3_reconnect_procedure_round_trips_through_the_tier(svc: Services) -> None:
    assert svc.resilience is not None
    result = svc.resilience.recovery.recover("L3", svc.breakers["L3"])
    assert result.succeeded and result.procedure == "L3_reconnect"


def test_a_503_always_carries_retry_after(svc: Services, server: fakeredis.FakeServer) -> None:
    from tests.api.test_app import assert_error, post_signal

    key = svc.auth.store.create("ed25519", "signal:read", label="t")
    client = TestClient(create_app(svc))
    server.connected = False  # the nonce store is gone: refused honestly, with a time to come back
    resp = post_signal(client, svc, key, {"symbol": "SPX", "timeframe": "1d"})
    assert_error(resp, 503, "auth_unavailable")
    assert int(resp.headers["retry-after"]) >= 1
