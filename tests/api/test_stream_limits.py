"""The stream per the diagram: cache update before broadcast, connection and subscription caps, coalescing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from supreme.api.auth.service import Principal
from supreme.api.streaming import (
    ConnectionManager,
    StreamGateway,
    StreamLimits,
    StreamRefused,
    SubscriptionManager,
)
from supreme.api.streaming import protocol as P
from supreme.api.streaming.subscriptions import cache_key
from supreme.cache.manager import CacheManager
from supreme.cache.tiers.base import LocalTier, TierError
from supreme.cache.tiers.memory import MemoryTier
from supreme.clock import ManualClock
from supreme.config import ConfigError
from supreme.events import EventLog
from supreme.market.feed import MarketDataFeed
from supreme.market.replay import ReplayConnector
from tests.api import test_stream_server as server_tests
from tests.api.test_stream_server import Env, run, trade, until
from tests.api.test_stream_units import T0_MS, candles, drain

make_env = server_tests.make_env  # the real-socket server fixture, shared


def reader(key_id: str = "ak_1") -> Principal:
    return Principal(key_id, frozenset({"market:read"}), "session")


def tick(symbol: str, k: int) -> dict[str, Any]:
    return {"symbol": symbol, "channel": "trades", "timestamp": k, "data": {"k": k}}


# -- settings -------------------------------------------------------------------------------------------
def test_limits_have_defaults_read_the_environment_and_refuse_bad_values() -> None:
    d = StreamLimits()
    assert (d.queue_size, d.max_behind, d.max_connections_per_key, d.max_subscriptions) == \
        (256, 10.0, 32, 500)
    env = {"SUPREME_WS_MAX_CONNECTIONS_PER_KEY": "4", "SUPREME_WS_MAX_BEHIND": "2.5"}
    got = StreamLimits.from_env(env, queue_size=8)
    assert (got.max_connections_per_key, got.max_behind, got.queue_size) == (4, 2.5, 8)
    with pytest.raises(ConfigError, match="SUPREME_WS_QUEUE_SIZE must be a number"):
        StreamLimits.from_env({"SUPREME_WS_QUEUE_SIZE": "lots"})
    with pytest.raises(ConfigError, match="max_connections_per_key must be a positive integer"):
        StreamLimits(max_connections_per_key=0)
    with pytest.raises(ConfigError, match="max_behind"):
        StreamLimits(max_behind=float("nan"))


# -- the per-key connection cap -------------------------------------------------------------------------
def test_per_key_cap_refuses_with_4429_and_frees_a_slot_on_close(clock: ManualClock) -> None:
    manager = ConnectionManager(clock, allow_anonymous=True, limits=StreamLimits(max_connections_per_key=2))
    a, b = manager.register(reader()), manager.register(reader())
    other = manager.register(reader("ak_2"))  # another key has its own count
    with pytest.raises(StreamRefused) as info:
        manager.register(reader())
    assert info.value.close_code == P.CLOSE_TOO_MANY_CONNECTIONS == 4429
    assert info.value.code == "too_many_connections_for_key"
    assert "2 open, at most 2" in info.value.reason
    assert len(manager) == 3 and manager.per_key("ak_1") == 2
    manager.unregister(a, 1000, "bye")
    assert manager.register(reader()).key_id == "ak_1" and manager.per_key("ak_1") == 2
    assert other.open and b.open
    for _ in range(5):  # anonymous streams (tests, models) have only the server-wide cap
        manager.register(None)


def test_subscription_cap_is_an_error_frame_and_the_connection_keeps_its_subscriptions(
        clock: ManualClock) -> None:
    gateway = StreamGateway.build(clock, allow_anonymous=True, symbols=["A", "B", "C"],
                                  limits=StreamLimits(max_subscriptions=4))
    conn = gateway.connections.register(None)
    gateway.handle_text(conn, '{"op":"subscribe","symbols":["A"],"id":1}')  # 3 channels
    gateway.handle_text(conn, '{"op":"subscribe","symbols":["B","C"],"channels":["ticker"],"id":2}')
    gateway.handle_text(conn, '{"op":"subscribe","symbols":"A","channels":[7],"id":3}')  # malformed
    gateway.handle_text(conn, '{"op":"subscribe","symbols":["B"],"channels":["ticker"],"id":4}')
    msgs = drain(conn)
    assert [(m["type"], m.get("code"), m["id"]) for m in msgs] == [
        ("ack", None, 1), ("error", "too_many_subscriptions", 2), ("error", "invalid_message", 3),
        ("ack", None, 4)]
    assert "at most 4" in msgs[1]["message"]
    assert conn.open and len(conn.subscriptions) == 4


# -- coalescing instead of dropping ---------------------------------------------------------------------
def test_a_burst_larger_than_the_queue_coalesces_to_the_latest_per_subscription(clock: ManualClock) -> None:
    manager = ConnectionManager(clock, allow_anonymous=True, limits=StreamLimits(queue_size=8))
    subs = SubscriptionManager(clock)
    conns = [manager.register(None) for _ in range(3)]
    for c in conns:
        subs.subscribe(c, ["A", "B"], ["trades"])
    for k in range(100):  # 200 updates into queues of 8, nothing read meanwhile
        subs.publish(tick("A", k))
        subs.publish(tick("B", k))
    for c in conns:
        assert c.open and c.behind and c.queue.qsize() == 8
        msgs = drain(c)
        assert [(m["symbol"], m["seq"]) for m in msgs[:8]] == [(s, k) for k in range(1, 5) for s in "AB"]
        tail = {m["symbol"]: m for m in msgs[8:]}
        assert len(msgs) == 10 and set(tail) == {"A", "B"}
        for m in tail.values():  # the latest update, its seq jumping past the ones it replaced
            assert (m["seq"], m["skipped"], m["data"]["k"]) == (100, 95, 99)
        assert not c.behind and c.behind_since is None and c.coalesced == 2 * 95
    # caught up: the next updates are queued plainly again
    subs.publish(tick("A", 100))
    assert [(m["seq"], "skipped" in m) for m in drain(conns[0])] == [(101, False)]


def test_acks_keep_their_order_and_an_unsubscribe_drops_what_waited(clock: ManualClock) -> None:
    gateway = StreamGateway.build(clock, allow_anonymous=True, symbols=["A", "B"], queue_size=2)
    conn = gateway.connections.register(None)
    gateway.handle_text(conn, '{"op":"subscribe","symbols":["A"],"channels":["trades"],"id":1}')
    for k in range(3):
        gateway.publish(tick("A", k))  # the queue fills: ack, A1; A2/A3 coalesce
    gateway.handle_text(conn, '{"op":"subscribe","symbols":["B"],"channels":["trades"],"id":2}')
    gateway.publish(tick("B", 0))
    gateway.handle_text(conn, '{"op":"unsubscribe","symbols":["A"],"channels":["trades"],"id":3}')
    msgs = [(m["type"], m.get("id") or m.get("symbol"), m.get("seq")) for m in drain(conn)]
    # the ack of B precedes B's update; A's coalesced update died with its unsubscribe
    assert msgs == [("ack", 1, None), ("update", "A", 1), ("ack", 2, None), ("ack", 3, None),
                    ("update", "B", 1)]


def test_a_full_control_backlog_or_staying_behind_closes_4008(clock: ManualClock) -> None:
    manager = ConnectionManager(clock, allow_anonymous=True,
                                limits=StreamLimits(queue_size=1, max_backlog=3, max_behind=1.0))
    chatty = manager.register(None)
    assert all(chatty.offer(f"m{i}") for i in range(4))  # 1 queued + 3 waiting
    assert not chatty.offer("one too many")
    assert chatty.close_code == P.CLOSE_SLOW_CONSUMER and chatty.dropped
    assert "3 control messages waiting" in chatty.close_reason
    # a health ping is how a consumer that no update reaches is still bounded
    idle = manager.register(None)
    assert idle.offer("x") and idle.offer("ping 1", clock.now())
    clock.advance(1.5)
    assert not idle.offer("ping 2", clock.now())
    assert idle.close_code == P.CLOSE_SLOW_CONSUMER and "behind for 1.5 s" in idle.close_reason


# -- "Cache update" before the broadcast -----------------------------------------------------------------
def _cache(clock: ManualClock, log: EventLog) -> CacheManager:
    return CacheManager(MemoryTier("LRU", clock=clock, capacity=64), LocalTier(clock, name="L2"),
                        LocalTier(clock, name="L3"), clock=clock, event_log=log, flow="ws_streaming")


def test_every_feed_update_goes_through_the_cache_manager_before_its_broadcast(clock: ManualClock) -> None:
    log = EventLog(run_id="cache-update")
    market = ManualClock(T0_MS / 1000)
    feed = MarketDataFeed(ReplayConnector({"A": candles(10)}, market), market, event_log=log)
    cache = _cache(clock, log)
    gateway = StreamGateway.build(clock, feed=feed, allow_anonymous=True, event_log=log, cache=cache)
    conn = gateway.connections.register(None)
    gateway.handle_text(conn, '{"op":"subscribe","symbols":["A"],"channels":["candles"],"id":1}')
    market.advance(180)  # three candles close
    assert feed.poll() == 3
    got = [m for m in drain(conn) if m["type"] == "update"]
    assert [m["data"][0] for m in got] == [T0_MS, T0_MS + 60_000, T0_MS + 120_000]
    frame = log.to_frame()
    steps = list(zip(frame["component"], frame["operation"], strict=True))
    flow = [s for s in steps if s in {("Market_Data_Feed", "cache_update"), ("Cache_Manager", "set"),
                                      ("Subscription_Manager", "broadcast")}]
    assert flow == [("Cache_Manager", "set"), ("Market_Data_Feed", "cache_update"),
                    ("Subscription_Manager", "broadcast")] * 3
    sets = frame[(frame["operation"] == "set") & (frame["key"] == cache_key("A", "candles"))]
    tiers = set(sets["component"])
    assert {"Memory_Cache_L1", "Cache_Manager"} <= tiers
    latest = cache.get(cache_key("A", "candles"), loader=lambda: None)
    assert latest["data"] == got[-1]["data"] and latest["timestamp"] == got[-1]["timestamp"]


class _DeadTierCache:
    """A cache whose every write fails the way a manager with all tiers down does."""

    def set(self, key: str, value: Any, ttl: float | None = None, low_priority: bool = False, *,
            request_id: str | None = None, flow: str | None = None) -> None:
        raise TierError(f"no tier took {key}")


def test_a_failing_cache_is_recorded_once_and_never_holds_the_broadcast(
        clock: ManualClock, caplog: pytest.LogCaptureFixture) -> None:
    log = EventLog(run_id="cache-down")
    gateway = StreamGateway.build(clock, allow_anonymous=True, event_log=log, cache=_DeadTierCache())
    conn = gateway.connections.register(None)
    gateway.handle_text(conn, '{"op":"subscribe","symbols":["A"],"channels":["trades"],"id":1}')
    with caplog.at_level(logging.WARNING, "supreme.api.streaming.subscriptions"):
        for k in range(5):
            assert gateway.publish(tick("A", k)) == 1
    assert [m["seq"] for m in drain(conn) if m["type"] == "update"] == [1, 2, 3, 4, 5]
    assert gateway.subscriptions.cache_errors == 5 and len(caplog.records) == 1
    assert "stream cache update failed: TierError" in caplog.records[0].getMessage()
    errors = log.to_frame().query("operation == 'cache_update'")
    assert list(errors["outcome"]) == ["error"] * 5


def test_the_app_streams_through_its_cache_manager(tmp_path: Any) -> None:
    from supreme.api.app import create_app
    from supreme.api.harness import harness_services

    with harness_services() as services:
        app = create_app(services)
        gateway = app.state.stream_gateway
        assert gateway.subscriptions.cache is services.cache
        assert gateway.connections.limits == StreamLimits.from_env()


# -- over real sockets ----------------------------------------------------------------------------------
def test_a_burst_larger_than_the_queue_drops_no_subscriber(make_env: Callable[..., Env]) -> None:
    env = make_env(limits=StreamLimits(queue_size=16))
    n = 400

    async def burst() -> None:
        for conn in env.gateway.connections.connections:  # a message already waits: no shared send path
            conn.offer(P.pong("burst", 0.0))
        for k in range(n):  # one loop callback: no sender runs until every update is queued
            env.gateway.publish(trade("A", k))

    async def scenario() -> None:
        clients = [env.client() for _ in range(3)]
        for c in clients:
            await c.connect()
            await c.subscribe(["A"], ["trades"])
        env.server.call(burst())
        for c in clients:
            last: dict[str, Any] | None = None
            while last is None or last["seq"] < n:
                last = await c.next_update(timeout=20)
                assert last is not None
            assert last["data"]["k"] == n - 1
            assert c.gaps == [] and c.coalesced > 0 and c.received + c.coalesced == n
            await c.close()

    run(scenario())
    assert env.gateway.connections.dropped == 0


def test_the_per_key_cap_over_real_sockets(make_env: Callable[..., Env]) -> None:
    env = make_env(limits=StreamLimits(max_connections_per_key=2))

    async def scenario() -> None:
        first, second = env.client(), env.client()
        await first.connect()
        await second.connect()
        async with connect(env.url, additional_headers={"Authorization": f"Bearer {env.token}"}) as ws:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == 4429 and "too many streams for key" in (ws.close_reason or "")
        await first.close()
        assert await until(lambda: env.gateway.connections.per_key(env.key_id) == 1)
        third = env.client()
        await third.connect()
        assert (await third.subscribe(["A"], ["ticker"]))["type"] == "ack"
        await second.close()
        await third.close()

    run(scenario())
    refused = env.log.to_frame().query("operation == 'validate' and outcome == 'rejected'")
    assert list(refused["detail"]) == ["per-key connection limit"]
