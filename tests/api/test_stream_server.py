"""The stream end to end: a real uvicorn server on loopback, real ``websockets`` clients.

Every wait is bounded (``asyncio.wait_for`` / a bounded polling loop on the clock) and every server is
stopped by its fixture.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from supreme.api.auth import AuthService, KeyStore, ReplayGuard, SecretCipher, SessionStore
from supreme.api.streaming import (
    ServerThread,
    StreamClient,
    StreamClientError,
    StreamGateway,
    StreamLimits,
    create_stream_app,
    signed_headers,
)
from supreme.api.streaming import protocol as P
from supreme.clock import ManualClock, SystemClock
from supreme.db import Database
from supreme.events import EventLog
from supreme.market.feed import MarketDataFeed
from supreme.market.replay import ReplayConnector
from supreme.monitoring.metrics import Metrics
from tests.api.test_stream_units import T0_MS, candles

pytestmark = pytest.mark.timeout(120)

CLOCK = SystemClock()
SYMBOLS = ["A", "B", "C", "D", "E"]


class Env:
    """A started server with its gateway, auth service, metrics and tokens."""

    def __init__(self, server: ServerThread, gateway: StreamGateway, auth: AuthService, metrics: Metrics,
                 log: EventLog) -> None:
        self.server, self.gateway, self.auth, self.metrics, self.log = server, gateway, auth, metrics, log
        reader = auth.store.create("ed25519", "market:read")
        self.key_id, self.credential = reader.record.key_id, reader.credential
        self.token = auth.sessions.create(reader.record.key_id, reader.record.scopes).token
        weak = auth.store.create("hmac", "signal:read").record
        self.weak_token = auth.sessions.create(weak.key_id, weak.scopes).token

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, **kw: Any) -> StreamClient:
        return StreamClient(self.url, token=self.token, **kw)


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[Callable[..., Env]]:
    started: list[ServerThread] = []
    dbs: list[Database] = []

    def make(**kw: Any) -> Env:
        db = Database.from_url(f"sqlite:///{tmp_path / f'auth{len(dbs)}.db'}")
        dbs.append(db)
        redis = fakeredis.FakeRedis(server=fakeredis.FakeServer())
        auth = AuthService(KeyStore(db, CLOCK, SecretCipher(os.urandom(32))), CLOCK,
                           replay=ReplayGuard(redis), sessions=SessionStore(redis, CLOCK))
        log = kw.pop("event_log", None)
        metrics, log = Metrics(), log if log is not None else EventLog(run_id="stream")
        kw.setdefault("symbols", SYMBOLS)
        gateway = StreamGateway.build(CLOCK, auth=auth, metrics=metrics, event_log=log, **kw)
        server = ServerThread(create_stream_app(gateway), gateway).start()
        started.append(server)
        return Env(server, gateway, auth, metrics, log)

    yield make
    for server in started:
        server.stop()
    for db in dbs:
        db.close()


def run(coro: Awaitable[Any], timeout: float = 60.0) -> Any:
    """Run a test coroutine with an overall bound."""
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


async def until(predicate: Callable[[], bool], timeout: float = 10.0, step: float = 0.02) -> bool:
    """Poll ``predicate`` on the clock for at most ``timeout`` seconds."""
    for _ in range(int(timeout / step)):
        if predicate():
            return True
        await CLOCK.asleep(step)
    return predicate()


def _caught_up(clients: list[StreamClient], n: int) -> bool:
    return all(c.received >= n for c in clients)


def trade(symbol: str, k: int, pad: str = "") -> dict[str, Any]:
    return {"symbol": symbol, "channel": "trades", "timestamp": k, "data": {"k": k, "pad": pad}}


# -- subscribe, updates from the feed, unsubscribe --------------------------------------------------
def test_subscribe_updates_from_the_feed_and_unsubscribe(make_env: Callable[..., Env]) -> None:
    market = ManualClock(T0_MS / 1000)
    log = EventLog(run_id="stream")
    connector = ReplayConnector({"A": candles(30), "B": candles(30)}, market)
    feed = MarketDataFeed(connector, market, event_log=log)
    env = make_env(feed=feed, symbols=None, event_log=log)

    async def scenario() -> None:
        async with env.client() as client:
            ack = await client.subscribe(["A"], ["candles"])
            assert ack["type"] == "ack" and ack["subscribed"] == [["A", "candles"]]
            with pytest.raises(StreamClientError, match="unknown_symbol"):
                await client.subscribe(["ZZZ"], ["candles"])
            market.advance(180)
            assert feed.poll() == 3  # the feed's callbacks hand the updates to the server loop
            frame = await client.collect(n=3, seconds=10)
            assert list(frame["seq"]) == [1, 2, 3] and set(frame["symbol"]) == {"A"}
            assert [row[0] for row in frame["data"]] == [T0_MS, T0_MS + 60_000, T0_MS + 120_000]
            ack = await client.unsubscribe(["A"], ["candles"])
            assert ack["unsubscribed"] == [["A", "candles"]] and ack["subscriptions"] == 0
            market.advance(120)
            assert feed.poll() == 0 and feed.subscriptions == []
            assert (await client.ping())["type"] == "pong"
            assert client.gaps == [] and client.duplicates == 0
        assert await until(lambda: len(env.gateway.connections) == 0)

    run(scenario())
    frame = env.log.to_frame()
    streaming = frame[frame["flow"] == "ws_streaming"]
    assert {"WebSocket_Server", "Subscription_Manager", "Market_Data_Feed", "Exchange_Connector"} <= set(
        streaming["component"])
    lifecycle = frame[frame["flow"] == "ws_lifecycle"]
    assert {"upgrade_request", "validate", "switching_protocols", "register", "increment_connections",
            "close_frame", "unregister", "decrement_connections"} <= set(lifecycle["operation"])
    snap = env.metrics.snapshot()
    assert snap.value("supreme_ws_connections") == 0 and snap.value("supreme_ws_dropped_total") == 0
    assert snap.value("supreme_ws_messages_sent_total") >= 7


# -- 500 concurrent subscribers -----------------------------------------------------------------------
@pytest.mark.slow
def test_500_subscribers_each_get_every_update_in_order(make_env: Callable[..., Env]) -> None:
    env = make_env(ping_interval=60.0, limits=StreamLimits(max_connections_per_key=500))  # one key
    n_clients, per_symbol = 500, 20

    async def scenario() -> None:
        clients = [env.client() for _ in range(n_clients)]
        for i in range(0, n_clients, 50):
            await asyncio.gather(*(c.connect() for c in clients[i:i + 50]))
        wanted = {i: [SYMBOLS[i % 5], SYMBOLS[(i + 1) % 5]] for i in range(n_clients)}
        await asyncio.gather(*(c.subscribe(wanted[i], ["trades"]) for i, c in enumerate(clients)))
        assert len(env.gateway.connections) == n_clients
        for k in range(per_symbol):
            for s in SYMBOLS:
                env.gateway.publish_threadsafe(trade(s, k))
        frames = await asyncio.gather(*(c.collect(n=2 * per_symbol, seconds=30) for c in clients))
        for i, (client, frame) in enumerate(zip(clients, frames, strict=True)):
            assert len(frame) == 2 * per_symbol, f"client {i} got {len(frame)}"
            for s in wanted[i]:
                mine = frame[frame["symbol"] == s]
                assert list(mine["seq"]) == list(range(1, per_symbol + 1))
                assert [d["k"] for d in mine["data"]] == list(range(per_symbol))
            assert client.gaps == [] and client.duplicates == 0
        assert await client.next_update(timeout=0.2) is None  # nothing extra
        await asyncio.gather(*(c.close() for c in clients))

    run(scenario(), timeout=90)
    assert env.gateway.connections.dropped == 0


# -- a client that stops reading ----------------------------------------------------------------------
def test_stalled_client_is_dropped_without_delaying_the_others(make_env: Callable[..., Env]) -> None:
    # a stalled reader coalesces first; it is closed once it has stayed behind for max_behind
    env = make_env(limits=StreamLimits(queue_size=32, max_behind=0.3), close_timeout=0.5)
    pad, limit, after = "x" * 65_536, 800, 40  # 800 x 64 KiB outgrows any loopback buffering

    async def scenario() -> int:
        # A small, fixed receive buffer (no autotuning up to tcp_rmem's max) so the stall shows soon.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", env.server.port))
        async with connect(env.url, additional_headers={"Authorization": f"Bearer {env.token}"},
                           max_queue=1, compression=None, sock=sock, close_timeout=0.5) as stalled:
            await stalled.send(json.dumps({"op": "subscribe", "symbols": ["A"], "channels": ["trades"],
                                           "id": 1}))
            assert json.loads(await asyncio.wait_for(stalled.recv(), 10))["type"] == "ack"
            fast = [env.client() for _ in range(3)]
            for c in fast:
                await c.connect()
                await c.subscribe(["A"], ["trades"])
            # The stalled client now reads nothing more.  Updates come in bursts until the stalled one,
            # behind for longer than max_behind, is dropped, then ``after`` more.
            published, dropped_at = 0, None
            while published < limit and (dropped_at is None or published < dropped_at + after):
                for _ in range(8):
                    env.gateway.publish_threadsafe(trade("A", published, pad))
                    published += 1
                assert await until(partial(_caught_up, fast, published), timeout=20, step=0.002)
                # pace the bursts: the shared send path delivers 800 x 64 KiB to the fast readers in
                # less than max_behind, and the stall must outlast it (>= 0.9 s of bursts)
                await CLOCK.asleep(0.01)
                closing = [c for c in env.gateway.connections.connections if not c.open]
                if dropped_at is None and closing:
                    assert [c.close_code for c in closing] == [P.CLOSE_SLOW_CONSUMER]
                    dropped_at = published
            assert dropped_at is not None, f"stalled client still connected after {published} updates"
            for c in fast:
                frame = await c.collect(n=published, seconds=30)
                assert list(frame["seq"]) == list(range(1, published + 1))
                assert [d["k"] for d in frame["data"]] == list(range(published))
                await c.close()
            # its close frame cannot get through the full buffers: unregistered after close_timeout
            assert await until(lambda: env.gateway.connections.dropped == 1, timeout=10)
            stalled.transport.abort()
            return published

    run(scenario(), timeout=100)
    dropped = env.log.to_frame().query("operation == 'record_dropped'")
    assert len(dropped) == 1 and "slow consumer: behind for" in dropped["detail"].iloc[0]
    assert env.metrics.snapshot().value("supreme_ws_dropped_total") == 1


# -- clients that vanish ------------------------------------------------------------------------------
def test_aborted_transport_is_detected_and_counted_as_dropped(make_env: Callable[..., Env]) -> None:
    env = make_env(ping_interval=0.3, ping_timeout=0.3)

    async def scenario() -> None:
        ws = await connect(env.url, additional_headers={"Authorization": f"Bearer {env.token}"})
        await ws.send(json.dumps({"op": "subscribe", "symbols": ["A"], "id": 1}))
        await asyncio.wait_for(ws.recv(), 10)
        assert len(env.gateway.connections) == 1
        ws.transport.abort()  # no close frame
        assert await until(lambda: len(env.gateway.connections) == 0, timeout=5)
        assert env.gateway.subscriptions.keys == []

    run(scenario())
    assert env.gateway.connections.dropped == 1
    lost = env.log.to_frame().query("operation == 'connection_lost'")
    assert len(lost) == 1 and lost["detail"].iloc[0][:4] in ("1005", "1006")


def test_client_that_ignores_health_pings_is_force_closed(make_env: Callable[..., Env]) -> None:
    env = make_env(ping_interval=0.2, ping_timeout=0.3)

    async def scenario() -> None:
        mute = env.client(answer_pings=False)
        polite = env.client()
        await mute.connect()
        await polite.connect()
        assert await until(lambda: mute.close_code is not None, timeout=5)
        assert mute.close_code == P.CLOSE_HEALTH_TIMEOUT and "health timeout" in mute.close_reason
        assert polite.pings_answered >= 1 and polite.close_code is None
        assert (await polite.ping())["type"] == "pong"
        await polite.close()

    run(scenario())
    assert env.gateway.connections.dropped == 1
    assert env.metrics.snapshot().value("supreme_ws_dropped_total") == 1
    ops = set(env.log.to_frame().query("flow == 'ws_lifecycle'")["operation"])
    assert {"health_check", "send_health_ping", "health_confirmed", "detect_timeout", "force_close"} <= ops


# -- bad messages -------------------------------------------------------------------------------------
def test_malformed_messages_get_errors_and_the_connection_lives_on(make_env: Callable[..., Env]) -> None:
    env = make_env()

    async def scenario() -> None:
        async with connect(env.url, additional_headers={"Authorization": f"Bearer {env.token}"}) as ws:
            replies = []
            for text in ["{oops", '{"op":"teleport","id":4}', '{"op":"subscribe","symbols":["Q"],"id":5}',
                         '{"op":"subscribe","symbols":["A"],"channels":["depth"],"id":6}']:
                await ws.send(text)
                replies.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            assert [(r["type"], r["code"], r["id"]) for r in replies] == [
                ("error", "malformed_json", None), ("error", "unknown_op", 4), ("error", "unknown_symbol", 5),
                ("error", "unknown_channel", 6)]
            await ws.send(b"\xff\xfe binary junk")
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["code"] == "malformed_json"
            await ws.send('{"op":"ping","id":7}')
            assert json.loads(await asyncio.wait_for(ws.recv(), 10)) ["type"] == "pong"

    run(scenario())
    assert env.gateway.connections.dropped == 0


# -- authentication at the upgrade ---------------------------------------------------------------------
async def _close_code(url: str, headers: dict[str, str] | None = None) -> tuple[int | None, str]:
    async with connect(url, additional_headers=headers or {}) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        return ws.close_code, ws.close_reason or ""


def test_handshake_refusals_carry_close_codes_and_reasons(make_env: Callable[..., Env]) -> None:
    env = make_env()

    async def scenario() -> None:
        code, reason = await _close_code(env.url)
        assert code == P.CLOSE_UNAUTHORIZED and reason.startswith("missing_credentials")
        code, reason = await _close_code(env.url, {"Authorization": "Bearer not-a-token"})
        assert code == P.CLOSE_UNAUTHORIZED and reason.startswith("invalid_session")
        code, reason = await _close_code(env.url + "?token=" + env.weak_token)
        assert code == P.CLOSE_FORBIDDEN and reason.startswith("insufficient_scope")
        bad = signed_headers(env.url, env.key_id, env.credential, CLOCK)
        bad["X-Signature"] = bad["X-Signature"][::-1]
        code, reason = await _close_code(env.url, bad)
        assert code == P.CLOSE_UNAUTHORIZED and reason.startswith(("bad_signature", "malformed_credentials"))
        # accepted: query token, and API-key signature headers
        async with StreamClient(env.url + "?token=" + env.token) as by_query:
            assert (await by_query.subscribe(["A"], ["ticker"]))["type"] == "ack"
        async with StreamClient(env.url, key_id=env.key_id, credential=env.credential) as signed:
            assert (await signed.subscribe(["B"], ["ticker"]))["type"] == "ack"

    run(scenario())
    assert env.gateway.connections.opened == 2
    assert len(env.log.to_frame().query("operation == 'validate' and outcome == 'rejected'")) == 4


# -- server shutdown ------------------------------------------------------------------------------------
def test_server_shutdown_closes_connections_with_1001(make_env: Callable[..., Env]) -> None:
    env = make_env()

    async def scenario() -> list[StreamClient]:
        clients = [env.client() for _ in range(3)]
        for c in clients:
            await c.connect()
            await c.subscribe(["A"], ["ticker"])
        await asyncio.to_thread(env.server.stop)
        assert await until(lambda: all(c.close_code is not None for c in clients), timeout=10)
        return clients

    clients = run(scenario())
    assert [(c.close_code, c.close_reason) for c in clients] == [(P.CLOSE_GOING_AWAY, "server shutdown")] * 3
    assert env.gateway.connections.dropped == 0 and len(env.gateway.connections) == 0
