"""The Complete Trading Signal Flow end to end on fakeredis/Redis and SQLite/PostgreSQL, read from the log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fakeredis
import pandas as pd
import pytest
import redis
from fastapi.testclient import TestClient

from supreme.api.app import create_app
from supreme.api.services import Services
from supreme.clock import ManualClock
from tests.api.test_app import assert_error, build_services, post_signal, signed

SIGNAL = "/api/v1/trading/signal"


def steps(frame: pd.DataFrame, rid: str) -> pd.DataFrame:
    return frame[frame["request_id"] == rid]


@pytest.fixture
def backend_services(tmp_path: Path, clock: ManualClock, redis_backend: tuple[str, Any], namespace: str,
                     database_url: str) -> Any:
    _, client = redis_backend
    services = build_services(tmp_path, clock, database_url=database_url, redis_client=client,
                              namespace=namespace, replay_start="2018-06-04")
    yield services
    services.close()


def test_miss_then_hit_in_the_event_log(backend_services: Services, clock: ManualClock) -> None:
    svc = backend_services
    client = TestClient(create_app(svc))
    key = svc.auth.store.create("ed25519", "signal:read")

    first = post_signal(client, svc, key, {"symbol": "SPX", "timeframe": "1d"})
    second = post_signal(client, svc, key, {"symbol": "SPX", "timeframe": "1d"})
    assert first.status_code == 200 and second.status_code == 200, (first.text, second.text)
    b1, b2 = first.json(), second.json()
    assert (b1["meta"]["cached"], b2["meta"]["cached"]) == (False, True)
    assert {k: v for k, v in b1.items() if k != "meta"} == {k: v for k, v in b2.items() if k != "meta"}
    # the signal is what the engine says as of the market clock (2018-06-04 00:00: last candle 06-01)
    assert b1["as_of"] == int(pd.Timestamp("2018-06-02", tz="UTC").timestamp() * 1000)
    friday_ms = int(pd.Timestamp("2018-06-01", tz="UTC").value // 10**6)
    assert b1["meta"]["cache_key"].endswith(f":SPX:1d:{friday_ms}")

    frame = svc.event_log.to_frame()
    r1, r2 = first.headers["x-request-id"], second.headers["x-request-id"]
    s1, s2 = steps(frame, r1), steps(frame, r2)
    comps1 = list(s1["component"])
    # miss: limit, auth, cache miss, engine, feed, market-data miss, connector, store, format, metrics
    for comp in ("Rate_Limiter", "Auth_Service", "Cache_Manager", "Strategy_Engine", "Market_Data_Feed",
                 "Exchange_Connector", "Response_Formatter", "Metrics_Collector", "API_Gateway"):
        assert comp in comps1, comp
    assert comps1.index("Rate_Limiter") < comps1.index("Auth_Service") < comps1.index("Strategy_Engine")
    gate1 = s1[s1["operation"] == "check_signal_cache"]["outcome"].tolist()
    assert gate1 == ["miss"]
    assert set(s1[s1["component"] == "Strategy_Engine"]["operation"]) == {
        "request_market_data", "process_indicators", "apply_trading_logic"}
    # the signal was stored in every tier (L3, L2, L1) during the first request
    stored = s1[(s1["operation"] == "set") & (s1["outcome"] == "ok")]["component"].tolist()
    assert {"PostgreSQL_L3", "Redis_Cache_L2", "Memory_Cache_L1"} <= set(stored)
    # hit: no engine, no feed, no connector
    assert s2[s2["operation"] == "check_signal_cache"]["outcome"].tolist() == ["hit"]
    assert not {"Strategy_Engine", "Market_Data_Feed", "Exchange_Connector"} & set(s2["component"])
    total = s1[(s1["component"] == "API_Gateway") & (s1["operation"] == "request")]
    assert total["key"].tolist() == ["POST /api/v1/trading/signal"]


def test_a_new_candle_changes_the_key(backend_services: Services, clock: ManualClock) -> None:
    svc = backend_services
    client = TestClient(create_app(svc))
    key = svc.auth.store.create("ed25519", "signal:read")
    a = post_signal(client, svc, key, {"symbol": "SPX"}).json()
    clock.advance(86_400.0)  # one market day at speed 1: the 2018-06-04 candle closes
    b = post_signal(client, svc, key, {"symbol": "SPX"}).json()
    assert b["meta"]["cached"] is False
    assert b["as_of"] == a["as_of"] + 86_400_000 * 3  # Friday's close -> Monday's close
    assert b["meta"]["cache_key"] != a["meta"]["cache_key"]


def test_l2_hit_after_l1_is_lost(backend_services: Services) -> None:
    """A second process (a fresh L1) finds the signal in L2."""
    svc = backend_services
    client = TestClient(create_app(svc))
    key = svc.auth.store.create("ed25519", "signal:read")
    first = post_signal(client, svc, key, {"symbol": "SPX"}).json()
    svc.cache.l1.clear()
    resp = post_signal(client, svc, key, {"symbol": "SPX"})
    assert resp.json()["meta"]["cached"] is True
    s = steps(svc.event_log.to_frame(), resp.headers["x-request-id"])
    hits = s[(s["component"] == "Redis_Cache_L2") & (s["outcome"] == "hit")]
    assert len(hits) == 1
    assert resp.json()["indicators"] == first["indicators"]


def test_dead_l2_degrades_not_fails(tmp_path: Path, clock: ManualClock) -> None:
    svc = build_services(tmp_path, clock, cache_redis_url="redis://127.0.0.1:1/0")
    try:
        client = TestClient(create_app(svc))
        key = svc.auth.store.create("ed25519", "signal:read")
        bodies = [post_signal(client, svc, key, {"symbol": "SPX"}) for _ in range(8)]
        assert [r.status_code for r in bodies] == [200] * 8
        assert [r.json()["meta"]["cached"] for r in bodies] == [False] + [True] * 7
        assert len({r.json()["action"] for r in bodies}) == 1
        ready = client.get("/ready")
        assert ready.status_code == 200
        deps = {d["name"]: d for d in ready.json()["dependencies"]}
        assert ready.json()["status"] == "degraded"
        assert deps["L2"]["status"] == "unavailable" and "L2" in deps["L2"]["detail"]
        assert deps["L3"]["status"] == "ok"
        frame = svc.event_log.to_frame()
        assert ((frame["component"] == "Redis_Cache_L2") & (frame["outcome"] == "error")).any()
        assert svc.cache.pending()["L2"] >= 1  # the writes L2 missed are journaled, not lost
    finally:
        svc.close()


@pytest.mark.slow
def test_dead_l3_degrades_not_fails(tmp_path: Path, clock: ManualClock) -> None:
    """L3 on a PostgreSQL port nobody listens on; the key store stays on SQLite."""
    svc = build_services(tmp_path, clock)
    try:
        from supreme.cache import SqlTier

        dead = SqlTier("postgresql://postgres@127.0.0.1:1/none", clock=clock, db_options={"timeout": 1.0})
        svc.cache._remotes[1].tier = dead  # swap the L3 back-end for the dead one
        client = TestClient(create_app(svc))
        key = svc.auth.store.create("ed25519", "signal:read")
        assert [post_signal(client, svc, key, {"symbol": "SPX"}).status_code for _ in range(3)] == [200] * 3
        ready = client.get("/ready").json()
        assert ready["status"] == "degraded"
        assert {d["name"]: d["status"] for d in ready["dependencies"]}["L3"] == "unavailable"
    finally:
        svc.close()


@pytest.mark.slow
def test_dead_auth_redis_is_503_not_500(tmp_path: Path, clock: ManualClock) -> None:
    """Nonces and sessions live in Redis: without it signatures cannot be checked for replay -> 503."""
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    svc = build_services(tmp_path, clock, redis_client=dead, cache_redis_url="redis://127.0.0.1:1/0")
    try:
        client = TestClient(create_app(svc))
        key = svc.auth.store.create("ed25519", "signal:read")
        body, headers = signed(svc, key, {"symbol": "SPX"}, nonce="d1")
        assert_error(client.post(SIGNAL, content=body, headers=headers), 503, "auth_unavailable")
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
        assert client.get("/health").status_code == 200
    finally:
        svc.close()


def test_services_from_settings_defaults(tmp_path: Path) -> None:
    """Embedded defaults: fakeredis + SQLite from Settings alone, both samples."""
    from supreme.config import Settings

    settings = Settings(redis_url=None, database_url=f"sqlite:///{tmp_path / 'd.db'}", data_dir=tmp_path)
    svc = Services.from_settings(settings)
    try:
        assert sorted(svc.markets) == ["IXIC", "SPX"]
        assert isinstance(svc.auth.sessions.client, fakeredis.FakeRedis)
        client = TestClient(create_app(svc))
        key = svc.auth.store.create("ed25519", "signal:read")
        assert post_signal(client, svc, key, {"symbol": "IXIC"}).status_code == 200
    finally:
        svc.close()
