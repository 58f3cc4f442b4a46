"""A slow consumer on the market-data stream: the real stream managers fed by a recording.

The real :class:`~supreme.api.streaming.gateway.StreamGateway` (its Connection_Manager's queues,
coalescing and ``4008`` close, its Subscription_Manager's broadcast and cache update) is fed by the
real :class:`~supreme.market.feed.MarketDataFeed` polling a
:class:`~supreme.market.replay.ReplayConnector` over a recording, on a :class:`ManualClock`.
``clients`` connections subscribe to the recording's symbol; inside a ``faults.stream.down_*``
window the last one reads nothing (its sender is not run), so its queue fills, then the connection
coalesces to the latest candle, and closes it ``4008`` if it stays behind past ``max_behind``.  The
others are drained at every poll.  Afterwards the stream cache is read back: it must hold the last
candle published.

Departures: no sockets (the socket-level stall, TCP buffers included, is covered by
``tests/api/test_stream_server.py``); as in the ``ws_streaming`` model the recording is replayed on a
compressed grid, one candle per second of scenario time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from supreme.clock import Clock, ManualClock
from supreme.events import EventLog
from supreme.replay.sources import Stream
from supreme.resilience.fault_schedule import FaultSchedule

__all__ = ["StreamRun", "deliveries", "replay_stream_faults"]

FLOW = "ws_streaming"


@dataclass
class StreamRun:
    """Its event log, what each client received (``seq``, ``skipped``, time, delay) and the summary."""

    event_log: EventLog
    received: dict[str, list[tuple[int, int, float, float]]]
    summary: dict[str, Any]


def replay_stream_faults(stream: Stream, faults: Mapping[str, Any], *, duration: float = 120.0,
                         clients: int = 3, queue_size: int = 4, max_behind: float = 10.0,
                         poll_interval: float = 1.0, redis_url: str | None = None,
                         database_url: str | None = None) -> StreamRun:
    """Stream the recording to ``clients`` subscribers; the last stops reading in the stream windows.
    The stream cache's L2/L3 are in-process tiers, or Redis at ``redis_url`` and the database at
    ``database_url`` (this run's own key namespace and table, removed afterwards)."""
    from supreme.cache.manager import CacheManager
    from supreme.cache.tiers.memory import MemoryTier
    from supreme.market.feed import MarketDataFeed
    from supreme.market.replay import ReplayConnector

    if clients < 1 or poll_interval <= 0 or duration <= 0:
        raise ValueError(f"need clients >= 1, poll_interval > 0, duration > 0; got {clients}, "
                         f"{poll_interval}, {duration}")
    need = int(duration) + 2
    if len(stream.frame) < need:
        raise ValueError(f"{stream.symbol}: {len(stream.frame)} candles, the run needs {need}")
    frame = stream.frame.iloc[:need].reset_index(drop=True).copy()
    frame["timestamp"] = np.arange(need, dtype=np.int64) * 1000  # the compressed grid
    log = EventLog(world="real")
    clock = ManualClock(0.0)
    schedule = FaultSchedule.from_scenario(faults, clock=clock, event_log=log)
    feed = MarketDataFeed(ReplayConnector({stream.symbol: frame}, clock, timeframe="1s"), clock,
                          event_log=log)
    l2, l3, cleanup = _tiers(clock, redis_url, database_url)
    cache = CacheManager(MemoryTier("LRU", clock=clock, capacity=1024), l2, l3, clock=clock, event_log=log,
                         flow=FLOW)
    try:
        return _run(stream, frame, schedule, feed, cache, log, clock, clients=clients, duration=duration,
                    queue_size=queue_size, max_behind=max_behind, poll_interval=poll_interval)
    finally:
        cleanup()


def _tiers(clock: Clock, redis_url: str | None, database_url: str | None) -> tuple[Any, Any, Any]:
    """L2 and L3 of the stream cache, and how to remove what this run wrote."""
    import uuid

    from supreme.cache.tiers.base import LocalTier

    run = uuid.uuid4().hex[:10]
    if redis_url is None:
        l2: Any = LocalTier(clock, name="L2")
    else:
        from supreme.cache.tiers.redis_tier import RedisTier

        l2 = RedisTier.from_url(redis_url, namespace=f"supreme:stream:{run}:")
    if database_url is None:
        l3: Any = LocalTier(clock, name="L3")
    else:
        from supreme.cache.tiers.sql_tier import SqlTier

        l3 = SqlTier(database_url, clock=clock, table=f"stream_{run}")

    def cleanup() -> None:
        if redis_url is not None:
            keys = list(l2.client.scan_iter(match=f"{l2.namespace}*", count=1000))
            if keys:
                l2.client.delete(*keys)
            l2.close()
        if database_url is not None:
            l3.database().execute(f"DROP TABLE IF EXISTS {l3.table}")
            l3.close()

    return l2, l3, cleanup


def _run(stream: Stream, frame: pd.DataFrame, schedule: FaultSchedule, feed: Any, cache: Any, log: EventLog,
         clock: ManualClock, *, clients: int, duration: float, queue_size: int, max_behind: float,
         poll_interval: float) -> StreamRun:
    """Subscribe the clients, poll the feed every ``poll_interval`` s, drain all but the stalled one."""
    from supreme.api.streaming.gateway import StreamGateway
    from supreme.api.streaming.limits import StreamLimits
    from supreme.monitoring.metrics import Metrics

    gateway = StreamGateway.build(clock, feed=feed, metrics=Metrics(), event_log=log, symbols=[stream.symbol],
                                  limits=StreamLimits(queue_size=queue_size, max_behind=max_behind),
                                  allow_anonymous=True, ping_interval=1e9, ping_timeout=1e9,
                                  timeframe="1s", cache=cache)
    conns = []
    for i in range(clients):
        principal = gateway.connections.validate({}, "/api/v1/stream")
        conn = gateway.connections.register(principal, peer=f"client{i}")
        conn.closer = lambda c: log.record(clock.now(), FLOW, "WebSocket_Gateway", "force_close",
                                           key=str(c.id), detail=f"{c.close_code} {c.close_reason}")
        gateway.handle_text(conn, json.dumps({"op": "subscribe", "symbols": [stream.symbol],
                                              "channels": ["candles"], "id": 1}))
        conns.append(conn)
    received: dict[str, list[tuple[int, int, float, float]]] = {c.peer: [] for c in conns}
    stalled = conns[-1]

    def drain(conn: Any) -> None:
        while conn.state == "open" and (text := conn.next_message()) is not None:
            gateway.connections.mark_sent(conn)
            msg = json.loads(text)
            if msg.get("type") == "update":
                delay = clock.now() - float(msg["timestamp"]) / 1000.0  # from the candle's close
                received[conn.peer].append((int(msg["seq"]), int(msg.get("skipped", 0)), clock.now(), delay))
                log.record(clock.now(), FLOW, "Client", "update", key=f"{msg['symbol']}:{msg['channel']}",
                           detail=json.dumps({"client": conn.peer, "seq": msg["seq"],
                                              "skipped": msg.get("skipped", 0)}))

    reading = True
    for n in range(int(duration / poll_interval) + 1):
        clock.set(n * poll_interval)
        for kind, w in schedule.apply():
            if w.target == "stream":
                reading = kind == "end"
                log.record(clock.now(), FLOW, "Client", "resume_reading" if reading else "stop_reading",
                           key=str(stalled.id))
        feed.poll()
        for conn in conns:
            if conn is not stalled or reading:
                drain(conn)
    last = frame[(frame["timestamp"] + 1000) <= clock.now() * 1000.0].iloc[-1]
    held = _cached_close(cache, stream.symbol)
    summary = {"published": gateway.subscriptions.published, "closed_slow": int(stalled.state != "open"),
               "close_code": stalled.close_code, "coalesced": stalled.coalesced,
               "cache_last_close": held,
               "cache_ok": bool(held is not None and np.isclose(held, float(last["close"])))}
    return StreamRun(log, received, summary)


def _cached_close(cache: Any, symbol: str) -> float | None:
    """The close of the candle the stream cache holds for ``symbol`` (None if it holds none)."""
    from supreme.api.streaming.subscriptions import cache_key

    value = cache.get(cache_key(symbol, "candles"))
    if value is None:
        return None
    data = value.get("data") if isinstance(value, dict) else None
    row = data if isinstance(data, list | tuple) else None
    return float(row[4]) if row is not None and len(row) > 4 else None


def deliveries(received: Mapping[str, list[tuple[int, int, float, float]]]) -> pd.DataFrame:
    """One row per update a client got: client, seq, skipped, time, delay (s since the candle closed)."""
    rows = [(c, *r) for c, got in received.items() for r in got]
    return pd.DataFrame(rows, columns=["client", "seq", "skipped", "time", "delay"])
