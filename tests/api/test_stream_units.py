"""The stream's managers without sockets: protocol parsing, connections, subscriptions, health, messages."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pandas as pd
import pytest

import supreme.api.streaming as streaming
from supreme.api.auth import AuthService, KeyStore, ReplayGuard, SecretCipher, SessionStore
from supreme.api.streaming import (
    ConnectionManager,
    HealthMonitor,
    ProtocolError,
    StreamGateway,
    StreamLimits,
    StreamRefused,
    SubscriptionError,
    SubscriptionManager,
    parse_client_message,
)
from supreme.api.streaming import protocol as P
from supreme.api.streaming.connections import Connection
from supreme.clock import ManualClock
from supreme.db import Database
from supreme.events import EventLog
from supreme.market.feed import MarketDataFeed
from supreme.market.replay import ReplayConnector
from supreme.monitoring.metrics import Metrics

T0_MS = 1_700_000_000_000  # a multiple of 60 000: candles open on the minute grid


def candles(n: int = 30, start_ms: int = T0_MS, base: float = 100.0) -> pd.DataFrame:
    """``n`` one-minute candles from ``start_ms``."""
    ts = [start_ms + 60_000 * k for k in range(n)]
    close = [base + k for k in range(n)]
    return pd.DataFrame({"timestamp": ts, "open": close, "high": [c + 1 for c in close],
                         "low": [c - 1 for c in close], "close": close, "volume": [10.0] * n})


def drain(conn: Connection) -> list[dict[str, Any]]:
    """Every message queued on ``conn`` (and what waited behind its full queue, as the sender sends it),
    parsed."""
    out = []
    while (text := conn.next_message()) is not None:
        out.append(json.loads(text))
    return out


def anon_manager(clock: ManualClock, **kw: Any) -> ConnectionManager:
    return ConnectionManager(clock, allow_anonymous=True, **kw)


def test_public_api_is_locked() -> None:
    assert sorted(streaming.__all__) == sorted([
        "STREAM_PATH", "ClientMessage", "Connection", "ConnectionManager", "Gap", "HealthMonitor",
        "HealthReport", "ProtocolError", "ServerThread", "StreamClient", "StreamClientError", "StreamGateway",
        "StreamLimits", "StreamRefused", "StreamServer", "SubscriptionError", "SubscriptionManager",
        "create_stream_app", "parse_client_message", "signed_headers", "stream_router", "uvicorn_ws_options"])


# -- protocol ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "code"), [
    ("{not json", "malformed_json"),
    ("[1, 2]", "invalid_message"),
    ('{"op": "dance"}', "unknown_op"),
    ('{"id": 1}', "unknown_op"),
    ('{"op": "subscribe", "id": 1}', "invalid_message"),
    ('{"op": "subscribe", "symbols": [], "id": 1}', "invalid_message"),
    ('{"op": "subscribe", "symbols": [3]}', "invalid_message"),
    ('{"op": "subscribe", "symbols": ["A"], "channels": ["orderbook"], "id": 9}', "unknown_channel"),
    ('{"op": "ping", "id": {"x": 1}}', "invalid_message"),
    ('{"op": "ping", "id": true}', "invalid_message"),
])
def test_bad_client_messages_are_refused_with_a_code(text: str, code: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_client_message(text)
    assert info.value.code == code
    assert str(info.value)


def test_subscribe_message_defaults_and_deduplicates() -> None:
    msg = parse_client_message('{"op":"subscribe","symbols":["A","B","A"],"id":"x"}')
    assert msg == P.ClientMessage("subscribe", "x", ("A", "B"), P.CHANNELS)
    assert parse_client_message('{"op":"ping","id":3}') == P.ClientMessage("ping", 3)


def test_update_text_splices_seq_into_valid_json() -> None:
    body = P.update_body({"symbol": "A", "channel": "trades", "timestamp": 5, "data": {"p": float("nan")}})
    msg = json.loads(P.update_text(body, 42))
    assert msg == {"type": "update", "seq": 42, "symbol": "A", "channel": "trades", "timestamp": 5,
                   "data": {"p": None}}


# -- connections --------------------------------------------------------------------------------------
@pytest.fixture
def auth(tmp_path: Path, clock: ManualClock) -> Iterator[AuthService]:
    db = Database.from_url(f"sqlite:///{tmp_path / 'auth.db'}")
    redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    yield AuthService(KeyStore(db, clock, SecretCipher(os.urandom(32))), clock, replay=ReplayGuard(redis),
                      sessions=SessionStore(redis, clock))
    db.close()


def test_validate_refuses_with_close_codes(auth: AuthService, clock: ManualClock,
                                           event_log: EventLog) -> None:
    manager = ConnectionManager(clock, auth, event_log=event_log)
    reader = auth.store.create("ed25519", "market:read").record
    other = auth.store.create("ed25519", "signal:read").record
    good = auth.sessions.create(reader.key_id, reader.scopes).token
    weak = auth.sessions.create(other.key_id, other.scopes).token
    by_query = manager.validate({}, "/api/v1/stream", token=good)
    by_header = manager.validate({"Authorization": f"Bearer {good}"}, "/api/v1/stream")
    assert by_query is not None and by_header is not None
    assert by_query.key_id == by_header.key_id == reader.key_id
    cases: list[tuple[dict[str, str], str | None, int, str]] = [
        ({}, None, P.CLOSE_UNAUTHORIZED, "missing_credentials"),
        ({}, "nope", P.CLOSE_UNAUTHORIZED, "invalid_session"),
        ({}, weak, P.CLOSE_FORBIDDEN, "insufficient_scope")]
    for headers, token, close, code in cases:
        with pytest.raises(StreamRefused) as info:
            manager.validate(headers, "/api/v1/stream", token=token)
        assert (info.value.close_code, info.value.code) == (close, code)
        assert code in info.value.reason
    rejected = event_log.to_frame().query("operation == 'validate' and outcome == 'rejected'")
    assert len(rejected) == 3 and set(rejected["component"]) == {"Connection_Manager"}


def test_register_unregister_feed_metrics(clock: ManualClock) -> None:
    metrics = Metrics()
    manager = anon_manager(clock, metrics=metrics, queue_size=2)
    a, b = manager.register(None, "p1"), manager.register(None, "p2")
    assert len(manager) == 2
    a.offer("x")
    snap = metrics.snapshot()
    assert snap.value("supreme_ws_connections") == 2
    assert snap.value("supreme_ws_send_queue_depth") == 1
    assert manager.unregister(a, 1000, "bye") and not manager.unregister(a)
    b.offer("1"), b.offer("2")
    assert b.offer("3") and b.behind and b.open  # full: it waits in the backlog, the connection stays
    assert manager.force_close(b, P.CLOSE_SLOW_CONSUMER, "slow consumer: test")
    assert (b.state, b.close_code, b.dropped) == ("closing", P.CLOSE_SLOW_CONSUMER, True)
    manager.unregister(b)
    snap = metrics.snapshot()
    assert snap.value("supreme_ws_connections") == 0
    assert snap.value("supreme_ws_connections_opened_total") == 2
    assert snap.value("supreme_ws_dropped_total") == 1
    assert (manager.opened, manager.closed, manager.dropped) == (2, 2, 1)


def test_close_all_is_not_a_drop(clock: ManualClock) -> None:
    manager = anon_manager(clock)
    closed: list[int] = []
    conns = [manager.register(None) for _ in range(3)]
    for c in conns:
        c.closer = lambda c: closed.append(c.id)
    assert manager.close_all() == 3 and sorted(closed) == [c.id for c in conns]
    assert all(c.close_code == P.CLOSE_GOING_AWAY and not c.dropped for c in conns)
    assert manager.close_all() == 0  # decided once


# -- subscriptions ------------------------------------------------------------------------------------
def test_fan_out_goes_only_to_subscribers_with_their_own_seq(clock: ManualClock, event_log: EventLog) -> None:
    manager = anon_manager(clock)
    subs = SubscriptionManager(clock, symbols=["A", "B"], event_log=event_log)
    a, b = manager.register(None), manager.register(None)
    assert subs.subscribe(a, ["A"], ["trades"]) == [("A", "trades")]
    assert subs.subscribe(b, ["A", "B"], ["trades"]) == [("A", "trades"), ("B", "trades")]
    assert subs.subscribe(b, ["A"], ["trades"]) == []  # idempotent
    for k in range(3):
        subs.publish({"symbol": "A", "channel": "trades", "timestamp": k, "data": {"k": k}})
    subs.publish({"symbol": "B", "channel": "trades", "timestamp": 9, "data": {}})
    assert subs.publish({"symbol": "C", "channel": "trades", "timestamp": 9, "data": {}}) == 0
    got_a, got_b = drain(a), drain(b)
    assert [(m["symbol"], m["seq"], m["timestamp"]) for m in got_a] == [("A", 1, 0), ("A", 2, 1), ("A", 3, 2)]
    assert [(m["symbol"], m["seq"]) for m in got_b] == [("A", 1), ("A", 2), ("A", 3), ("B", 1)]
    assert subs.unsubscribe(b, ["A"], ["trades", "ticker"]) == [("A", "trades")]
    subs.publish({"symbol": "A", "channel": "trades", "timestamp": 3, "data": {}})
    assert drain(b) == [] and [m["seq"] for m in drain(a)] == [4]
    assert subs.drop(a) == 1 and subs.keys == [("B", "trades")]
    assert "broadcast" in set(event_log.to_frame()["operation"])


def test_unknown_symbol_is_all_or_nothing(clock: ManualClock) -> None:
    subs = SubscriptionManager(clock, symbols=["A"])
    conn = anon_manager(clock).register(None)
    with pytest.raises(SubscriptionError) as info:
        subs.subscribe(conn, ["A", "ZZZ"], ["ticker"])
    assert info.value.code == "unknown_symbol" and "ZZZ" in str(info.value)
    assert conn.subscriptions == {} and subs.keys == []
    capped = SubscriptionManager(clock, max_per_connection=2)
    with pytest.raises(SubscriptionError, match="at most 2"):
        capped.subscribe(conn, ["A"], ["ticker", "trades", "candles"])


def test_slow_subscriber_coalesces_then_is_closed_only_past_the_bound(clock: ManualClock) -> None:
    limits = StreamLimits(queue_size=4, max_behind=5.0)
    manager = ConnectionManager(clock, allow_anonymous=True, limits=limits)
    subs = SubscriptionManager(clock)
    slow, fast = manager.register(None), manager.register(None)
    subs.subscribe(slow, ["A"], ["ticker"])
    subs.subscribe(fast, ["A"], ["ticker"])
    got: list[int] = []
    for k in range(10):
        subs.publish({"symbol": "A", "channel": "ticker", "timestamp": k, "data": {}})
        got += [m["seq"] for m in drain(fast)]
    assert got == list(range(1, 11))
    assert slow.open and slow.queue.qsize() == 4 and slow.behind and slow.coalesced == 5
    clock.advance(5.0)  # behind for exactly the bound: still tolerated
    subs.publish({"symbol": "A", "channel": "ticker", "timestamp": 10, "data": {}})
    assert slow.open
    clock.advance(0.5)  # past it: closed as a slow consumer, the fast one unaffected
    subs.publish({"symbol": "A", "channel": "ticker", "timestamp": 11, "data": {}})
    assert slow.state == "closing" and slow.close_code == P.CLOSE_SLOW_CONSUMER and slow.dropped
    assert "behind for 5.5 s" in slow.close_reason
    assert [m["seq"] for m in drain(fast)] == [11, 12] and fast.open


def test_feed_drives_fan_out_through_the_handoff(clock: ManualClock) -> None:
    market = ManualClock(T0_MS / 1000)
    feed = MarketDataFeed(ReplayConnector({"A": candles(10)}, market), market)
    subs = SubscriptionManager(clock, feed)
    assert subs.timeframe == "1m"
    conn = anon_manager(clock).register(None)
    handed: list[dict[str, Any]] = []

    def handoff(fn: Any, update: dict[str, Any]) -> None:
        handed.append(update)
        fn(update)

    subs.handoff = handoff
    with pytest.raises(SubscriptionError):
        subs.subscribe(conn, ["NOPE"], ["candles"])
    subs.subscribe(conn, ["A"], ["candles"])
    assert len(feed.subscriptions) == 1
    market.advance(180)  # three candles close
    assert feed.poll() == 3
    msgs = drain(conn)
    assert [m["seq"] for m in msgs] == [1, 2, 3] and len(handed) == 3
    assert [m["data"][0] for m in msgs] == [T0_MS, T0_MS + 60_000, T0_MS + 120_000]
    subs.drop(conn)
    assert feed.subscriptions == []  # the last subscriber left: the feed stream is dropped


# -- health -------------------------------------------------------------------------------------------
def test_health_pings_confirms_and_times_out(clock: ManualClock, event_log: EventLog) -> None:
    metrics = Metrics()
    manager = anon_manager(clock, metrics=metrics, event_log=event_log)
    health = HealthMonitor(manager, clock, interval=10, timeout=5, event_log=event_log)
    good, mute = manager.register(None), manager.register(None)
    assert health.check().pinged == []
    clock.advance(10)
    assert sorted(health.check().pinged) == [good.id, mute.id]
    pings = {c.id: drain(c) for c in (good, mute)}
    assert pings[good.id][0]["type"] == "ping"
    clock.advance(1)
    assert health.confirm(good, pings[good.id][0]["id"])
    assert not health.confirm(good, 999)
    clock.advance(4)
    report = health.check()
    assert report.timed_out == [mute.id] and mute.close_code == P.CLOSE_HEALTH_TIMEOUT and mute.dropped
    assert good.open and health.next_due() == pytest.approx(5.0)
    manager.unregister(mute)
    assert metrics.snapshot().value("supreme_ws_dropped_total") == 1
    ops = set(event_log.to_frame().query("flow == 'ws_lifecycle'")["operation"])
    assert {"health_check", "send_health_ping", "health_confirmed", "detect_timeout", "force_close",
            "record_dropped"} <= ops


# -- the gateway's message handling, still without sockets -------------------------------------------
def test_handle_text_answers_and_survives_bad_messages(clock: ManualClock) -> None:
    gateway = StreamGateway.build(clock, allow_anonymous=True, symbols=["A"], max_protocol_errors=3)
    conn = gateway.connections.register(None)
    gateway.handle_text(conn, "garbage")
    gateway.handle_text(conn, '{"op":"subscribe","symbols":["Q"],"id":1}')
    gateway.handle_text(conn, '{"op":"subscribe","symbols":["A"],"channels":["ticker"],"id":2}')
    gateway.handle_text(conn, '{"op":"ping","id":"p"}')
    gateway.publish({"symbol": "A", "channel": "ticker", "timestamp": 1, "data": {"last": 1.0}})
    msgs = drain(conn)
    assert [(m["type"], m.get("code") or m.get("id")) for m in msgs] == [
        ("error", "malformed_json"), ("error", "unknown_symbol"), ("ack", 2), ("pong", "p"), ("update", None)]
    assert msgs[2]["subscribed"] == [["A", "ticker"]]
    assert conn.open
    for _ in range(3):
        gateway.handle_text(conn, "{")
    assert conn.close_code == P.CLOSE_POLICY
