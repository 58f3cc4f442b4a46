"""WebSocket market-data streaming (seed diagram "WebSocket Market Data Streaming"), real managers.

The real socket-free parts of :mod:`supreme.api.streaming` -- built by ``StreamGateway.build``:
:class:`~supreme.api.streaming.connections.ConnectionManager`,
:class:`~supreme.api.streaming.subscriptions.SubscriptionManager`,
:class:`~supreme.api.streaming.health.HealthMonitor` and the gateway's sans-IO ``handle_text`` -- with
the real :class:`~supreme.market.feed.MarketDataFeed` polling a real
:class:`~supreme.market.replay.ReplayConnector` over the bundled sample (``SPX``, ``IXIC`` daily
candles), and a real :class:`~supreme.cache.manager.CacheManager` taking every update through the
real Subscription_Manager's "Cache update" step (the same code path as ``supreme serve``).
Simulated: the sockets (handshake, frames) and each client's network delay::

    Client.handshake -> WebSocket_Server.established (Connection_Manager.validate/register)
    Client.subscribe -> WebSocket_Server.subscribe -> Subscription_Manager.register -> .confirmed
      -> WebSocket_Server.ack -> Client.ack
    loop every feed.poll_interval: Market_Data_Feed.poll -> Exchange_Connector.fetch
      -> Market_Data_Feed.cache_update -> Cache_Manager.set (all tiers)
      -> Subscription_Manager.find_subscribers -> .broadcast -> Client.update (after its delay)
    Client.unsubscribe -> WebSocket_Server.unsubscribe -> Subscription_Manager.remove -> Client.ack

Slow readers (``clients.slow`` of the clients, default 0): their sender runs only every
``slow.read_every`` seconds, so with a small ``ws.queue_size`` their queue fills and the real
Connection coalesces to the latest candle per subscription (``"skipped"`` in the update), and closes
them ``4008`` only once they stay behind past ``ws.max_behind``; the other clients are unaffected.
A ``faults.stream.down_*`` window (the shared fault vocabulary) makes the last client stop reading
for the window's span: the same coalescing, then a catch-up when it reads again (or ``4008``).

Departure: the sample's daily candles are replayed on a compressed grid -- candle ``k`` opens at
``k * replay.timeframe`` of simulated time -- so a run of minutes streams years of data with the
replay connector's "as of now" rule unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import simpy

from sim.latency import latency_model
from sim.models._context import SimContext, count_steps
from sim.scenario import load_defaults, make_scenario

__all__ = ["DEFAULTS", "FLOW", "NAME", "WsWorld", "run", "summarize"]

NAME = "ws_streaming"
FLOW = "ws_streaming"

DEFAULTS: dict[str, Any] = load_defaults(NAME)


class WsWorld:
    """The streaming server's real managers on the SimPy clock, plus simulated sockets and clients."""

    def __init__(self, model: str, flow: str, sc: Mapping[str, Any], *, with_feed: bool = True) -> None:
        from supreme.api.streaming.gateway import StreamGateway
        from supreme.cache.manager import CacheManager
        from supreme.cache.tiers.base import LocalTier
        from supreme.cache.tiers.memory import MemoryTier
        from supreme.market.feed import MarketDataFeed
        from supreme.market.replay import ReplayConnector
        from supreme.market.sample import load_sample
        from supreme.market.timeframes import timeframe_ms
        from supreme.monitoring.metrics import Metrics

        self.sc = sc
        self.ctx = ctx = SimContext(model, flow, sc)
        clock = ctx.clock
        self.net = latency_model(sc["net.median"], sc["net.p99"])
        self.symbols = [s.strip() for s in str(sc["symbols"]).split(",") if s.strip()]
        self.feed: MarketDataFeed | None = None
        self.cache: CacheManager | None = None
        if with_feed:
            step = timeframe_ms(sc["replay.timeframe"])
            frames = {}
            for sym in self.symbols:
                frame = load_sample(sym).copy()
                frame["timestamp"] = np.arange(len(frame), dtype=np.int64) * step  # compressed grid
                frames[sym] = frame
            connector = ReplayConnector(frames, clock, timeframe=sc["replay.timeframe"])
            self.feed = MarketDataFeed(connector, clock, event_log=ctx.log)
            self.cache = CacheManager(MemoryTier("LRU", clock=clock, capacity=1024),
                                      LocalTier(clock, name="L2"), LocalTier(clock, name="L3"),
                                      clock=clock, event_log=ctx.log, flow="ws_streaming")
        from supreme.api.streaming.limits import StreamLimits

        self.metrics = Metrics()
        self.gateway = StreamGateway.build(
            clock, feed=self.feed, metrics=self.metrics, event_log=ctx.log, symbols=self.symbols,
            limits=StreamLimits(queue_size=int(sc["ws.queue_size"]), max_behind=float(sc["ws.max_behind"])),
            allow_anonymous=True, ping_interval=sc["health.interval"],
            ping_timeout=sc["health.timeout"], timeframe=sc["replay.timeframe"], cache=self.cache,
        )
        self.slow: set[int] = set()  # connections whose sender runs only every slow.read_every seconds
        self.connections = self.gateway.connections
        self.subscriptions = self.gateway.subscriptions
        self.health = self.gateway.health
        self.subscriptions.handoff = self._cache_then_publish
        self.inbox: dict[int, list[dict[str, Any]]] = {}
        self._wire_free: dict[int, float] = {}
        self.handlers: dict[int, Any] = {}
        self.received: dict[str, list[dict[str, Any]]] = {}

    # -- Market_Data_Feed -> (Cache_Manager: the real manager's step) -> Subscription_Manager -------
    def _cache_then_publish(self, publish: Any, update: dict[str, Any]) -> None:
        # the cache update already ran in SubscriptionManager._from_feed; this is the loop handoff
        subscribers = self.subscriptions.subscribers(update["symbol"], update["channel"])
        self.ctx.step("Subscription_Manager", "find_subscribers",
                      key=f"{update['symbol']}:{update['channel']}", subscribers=len(subscribers))
        publish(update)
        self.drain_all()

    def poller(self) -> Generator[simpy.Event, Any, None]:
        """The feed's poll loop on the simulated clock."""
        assert self.feed is not None
        while True:
            yield self.ctx.env.timeout(self.sc["feed.poll_interval"])
            self.feed.poll()

    # -- the simulated socket ---------------------------------------------------------------------
    def connect(self, name: str, handler: Any = None) -> Generator[simpy.Event, Any, Any]:
        """Handshake: upgrade request over the network, validate, 101, register; returns the Connection."""
        ctx = self.ctx
        rid = ctx.request_id()
        ctx.step("Client", "handshake", request_id=rid, key=name)
        yield ctx.env.timeout(self.net.sample(ctx.rng))
        ctx.log.record(ctx.env.now, "ws_lifecycle", "WebSocket_Gateway", "upgrade_request", request_id=rid,
                       key=name)
        principal = self.connections.validate({}, "/api/v1/stream", request_id=rid)
        ctx.log.record(ctx.env.now, "ws_lifecycle", "WebSocket_Gateway", "switching_protocols",
                       request_id=rid, key=name)
        conn = self.connections.register(principal, peer=name)
        conn.closer = lambda c: ctx.env.process(self._server_close(c))
        self.inbox[conn.id] = []
        self.handlers[conn.id] = handler
        yield ctx.env.timeout(self.net.sample(ctx.rng))
        ctx.step("Client", "established", frm="WebSocket_Server", request_id=rid, key=name,
                 connection=conn.id)
        return conn

    def send(self, conn: Any, message: dict[str, Any]) -> Generator[simpy.Event, Any, None]:
        """Client -> server frame: network delay, then the gateway's sans-IO handler, then drain replies."""
        yield self.ctx.env.timeout(self.net.sample(self.ctx.rng))
        if conn.state == "closed":
            return
        self.gateway.handle_text(conn, json.dumps(message))
        self.drain(conn)

    def drain_all(self) -> None:
        """Move every connection's queued messages onto the wire (slow readers wait for their turn)."""
        for conn in self.connections.connections:
            if conn.id not in self.slow:
                self.drain(conn)

    def slow_reader(self, conn: Any, every: float) -> Generator[simpy.Event, Any, None]:
        """A sender that gets to run only every ``every`` seconds (a client reading slowly)."""
        self.slow.add(conn.id)
        while conn.state != "closed":
            yield self.ctx.env.timeout(every)
            self.drain(conn)

    def stall(self, conn: Any, start: float, end: float) -> Generator[simpy.Event, Any, None]:
        """A client that reads nothing over ``[start, end)`` (a fault window), then catches up."""
        env = self.ctx.env
        yield env.timeout(max(0.0, start - env.now))
        self.slow.add(conn.id)
        self.ctx.step("Client", "stop_reading", key=str(conn.id))
        yield env.timeout(max(0.0, end - env.now))
        self.slow.discard(conn.id)
        self.ctx.step("Client", "resume_reading", key=str(conn.id))
        if conn.state != "closed":
            self.drain(conn)

    def drain(self, conn: Any) -> None:
        """The sender: queued messages leave in order, each arriving after this client's network delay."""
        env = self.ctx.env
        while True:
            text = conn.next_message()  # refills from what waited behind a full queue, as the sender does
            if text is None:
                return
            self.connections.mark_sent(conn)
            arrive = max(self._wire_free.get(conn.id, 0.0), env.now + self.net.sample(self.ctx.rng))
            self._wire_free[conn.id] = arrive  # TCP keeps order: no overtaking on one connection
            env.process(self._deliver(conn, json.loads(text), arrive - env.now))

    def _deliver(self, conn: Any, msg: dict[str, Any], delay: float) -> Generator[simpy.Event, Any, None]:
        yield self.ctx.env.timeout(delay)
        handler = self.handlers.get(conn.id)
        if handler is not None:
            handler(conn, msg)

    def client_close(self, conn: Any, name: str) -> Generator[simpy.Event, Any, None]:
        """Graceful close: the client's close frame, the server's answer, unregister."""
        ctx = self.ctx
        ctx.step("Client", "close_frame", key=name, connection=conn.id)
        self.handlers[conn.id] = None
        yield ctx.env.timeout(self.net.sample(ctx.rng))
        ctx.log.record(ctx.env.now, "ws_lifecycle", "WebSocket_Gateway", "close_frame", key=str(conn.id),
                       detail="answered client's close frame")
        self.subscriptions.drop(conn)
        self.connections.unregister(conn, 1000, "client closed")

    def _server_close(self, conn: Any) -> Generator[simpy.Event, Any, None]:
        """The closer hook: the gateway sends the close frame and unregisters (dropped if forced)."""
        ctx = self.ctx
        ctx.log.record(ctx.env.now, "ws_lifecycle", "WebSocket_Gateway", "force_close" if conn.dropped
                       else "close", key=str(conn.id), detail=f"{conn.close_code} {conn.close_reason}")
        yield ctx.env.timeout(0)
        self.subscriptions.drop(conn)
        self.connections.unregister(conn)


def _client(w: WsWorld, i: int) -> Generator[simpy.Event, Any, None]:
    ctx, sc = w.ctx, w.sc
    name = f"client{i}"
    symbol = w.symbols[i % len(w.symbols)]
    got: list[dict[str, Any]] = w.received.setdefault(name, [])

    def on_message(conn: Any, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "update":
            got.append(msg)
            ctx.step("Client", "update", key=f"{msg['symbol']}:{msg['channel']}", frm="WebSocket_Server",
                     seq=msg["seq"], client=name, skipped=msg.get("skipped", 0))
        elif kind == "ack":
            ctx.step("Client", "ack", key=symbol, frm="WebSocket_Server", op=msg.get("op"), client=name)
        elif kind == "ping":
            ctx.env.process(w.send(conn, {"op": "pong", "id": msg["id"]}))

    yield ctx.env.timeout(ctx.rng.uniform(0.0, 2.0))
    conn = yield from w.connect(name, on_message)
    if i >= int(sc["clients"]) - int(sc["clients.slow"]):
        ctx.env.process(w.slow_reader(conn, float(sc["slow.read_every"])))
    if i == int(sc["clients"]) - 1 and sc.get("faults.stream.down_at") is not None:
        at = float(sc["faults.stream.down_at"])
        span = sc.get("faults.stream.down_for")
        ctx.env.process(w.stall(conn, at, at + float(span) if span is not None else float(sc["duration"])))
    ctx.step("Client", "subscribe", key=symbol, client=name)
    yield from w.send(conn, {"op": "subscribe", "symbols": [symbol], "channels": ["candles"], "id": 1})
    yield ctx.env.timeout(max(0.0, sc["client.unsubscribe_at"] + ctx.rng.uniform(0, 5) - ctx.env.now))
    ctx.step("Client", "unsubscribe", key=symbol, client=name)
    yield from w.send(conn, {"op": "unsubscribe", "symbols": [symbol], "channels": ["candles"], "id": 2})


def run(scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Clients subscribe, receive replayed candles with their network delays, unsubscribe; the log."""
    sc = make_scenario(DEFAULTS, scenario)
    w = WsWorld(NAME, FLOW, sc)
    for i in range(int(sc["clients"])):
        w.ctx.env.process(_client(w, i))
    w.ctx.env.process(w.poller())
    w.ctx.env.run(until=sc["duration"])
    df = w.ctx.frame()
    df.attrs["received"] = {k: [(m["seq"], m["timestamp"]) for m in v] for k, v in w.received.items()}
    if sc.get("faults.stream.down_at") is not None and w.cache is not None:  # a stream fault: read back
        from supreme.api.streaming.subscriptions import cache_key

        df.attrs["cache_latest"] = {s: (w.cache.get(cache_key(s, "candles")) or {}).get("timestamp")
                                    for s in w.symbols}
    return df


def summarize(log: pd.DataFrame) -> dict[str, Any]:
    """Connections, updates polled, broadcast and received, and the delivery delay."""
    comp, op = log["component"], log["operation"]
    upd = log[(comp == "Client") & (op == "update")]
    forced = log[(comp == "WebSocket_Gateway") & (op == "force_close")]
    skipped = upd["detail"].map(lambda d: json.loads(d).get("skipped", 0) if isinstance(d, str) else 0)
    return {
        "connections": count_steps(log, "Connection_Manager", "register"),
        "polls": count_steps(log, "Market_Data_Feed", "poll"),
        "broadcasts": count_steps(log, "Subscription_Manager", "broadcast"),
        "updates_received": len(upd),
        "unsubscribed": count_steps(log, "Subscription_Manager", "remove"),
        "updates_skipped": int(skipped.sum()),
        "closed_slow": int(forced["detail"].astype(str).str.startswith("4008").sum()),
    }
