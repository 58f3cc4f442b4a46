"""WebSocket connection lifecycle (seed diagram "WebSocket Connection Lifecycle"), real managers.

The real :class:`~supreme.api.streaming.connections.ConnectionManager` (upgrade validation, registry,
metrics through :class:`~supreme.monitoring.metrics.Metrics`), the real
:class:`~supreme.api.streaming.health.HealthMonitor` (application pings, timeout on the SimPy clock) and
the gateway's sans-IO ``handle_text``; the sockets and the clients are simulated (see
:class:`sim.models.ws_streaming.WsWorld`)::

    Client.handshake -> WebSocket_Gateway.upgrade_request -> Connection_Manager.validate
      -> WebSocket_Gateway.switching_protocols -> Connection_Manager.register
      -> Metrics_Collector.increment_connections
    loop: Client.ping_frame -> WebSocket_Gateway.pong_frame
          Health_Monitor.health_check -> Connection_Manager.send_health_ping -> Client.application_ping
          -> WebSocket_Gateway.application_pong -> Connection_Manager.health_confirmed
    closed gracefully: Client.close_frame -> WebSocket_Gateway.close_frame -> Connection_Manager.unregister
    dropped (no close frame, at ``drop.at``): Health_Monitor.detect_timeout -> Connection_Manager.force_close
      -> WebSocket_Gateway.force_close -> Connection_Manager.unregister -> Metrics_Collector.record_dropped
    then Metrics_Collector.decrement_connections

A dropped client is detected ``health.timeout`` seconds after the first application ping it no longer
answers, i.e. at most ``health.interval + health.timeout`` (plus a network delay) after it vanished.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

import pandas as pd
import simpy

from sim.models._context import count_steps
from sim.models.ws_streaming import WsWorld
from sim.scenario import load_defaults, make_scenario

__all__ = ["DEFAULTS", "FLOW", "NAME", "run", "summarize"]

NAME = "ws_lifecycle"
FLOW = "ws_lifecycle"

DEFAULTS: dict[str, Any] = load_defaults(NAME)


def _client(w: WsWorld, i: int, drops: bool) -> Generator[simpy.Event, Any, None]:
    ctx, sc = w.ctx, w.sc
    env = ctx.env
    name = f"client{i}"
    alive = True

    def on_message(conn: Any, msg: dict[str, Any]) -> None:
        if not alive:
            return  # vanished: nothing is read, nothing answered
        if msg.get("type") == "ping":
            ctx.step("Client", "application_ping", frm="WebSocket_Gateway", key=str(conn.id), id=msg["id"])
            ctx.step("Client", "application_pong", key=str(conn.id), id=msg["id"])
            env.process(w.send(conn, {"op": "pong", "id": msg["id"]}))
        elif msg.get("type") == "pong":
            ctx.step("Client", "pong_frame", frm="WebSocket_Gateway", key=str(conn.id))

    yield env.timeout(ctx.rng.uniform(0.0, 3.0))
    conn = yield from w.connect(name, on_message)
    end = sc["drop.at"] if drops else sc["close.at"] + ctx.rng.uniform(0.0, 5.0)
    while True:
        gap = sc["ping.interval"] * ctx.rng.uniform(0.8, 1.2)
        if env.now + gap >= end:
            break
        yield env.timeout(gap)
        if conn.state == "closed":
            return
        ctx.step("Client", "ping_frame", key=str(conn.id))
        yield from w.send(conn, {"op": "ping", "id": f"p{i}"})
    yield env.timeout(max(0.0, end - env.now))
    if conn.state == "closed":
        return
    if drops:
        alive = False
        ctx.step("Client", "vanish", "dropped", key=str(conn.id), detail="no close frame")
        w.handlers[conn.id] = None
        return
    yield from w.client_close(conn, name)


def _health(w: WsWorld) -> Generator[simpy.Event, Any, None]:
    """The Health_Monitor's loop: check exactly when something is due."""
    env = w.ctx.env
    while True:
        yield env.timeout(max(w.health.next_due(), 1e-3))
        w.health.check()
        w.drain_all()


def run(scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Connections open, stay healthy, close or drop; returns the event log."""
    sc = make_scenario(DEFAULTS, scenario)
    n, drop = int(sc["clients"]), int(sc["clients.drop"])
    if n < 1 or not 0 <= drop <= n:
        raise ValueError(f"need clients >= 1 and 0 <= clients.drop <= clients, got {n}/{drop}")
    w = WsWorld(NAME, FLOW, sc, with_feed=False)
    for i in range(n):
        w.ctx.env.process(_client(w, i, drops=i >= n - drop))
    w.ctx.env.process(_health(w))
    w.ctx.env.run(until=sc["duration"])
    df = w.ctx.frame()
    snap = w.metrics.snapshot()
    df.attrs["metrics"] = {
        "ws_connections": snap.value("supreme_ws_connections"),
        "ws_connections_opened_total": snap.value("supreme_ws_connections_opened_total"),
        "ws_dropped_total": snap.value("supreme_ws_dropped_total"),
    }
    return df


def summarize(log: pd.DataFrame) -> dict[str, Any]:
    """Connections opened, closed, dropped, pings, and how long each drop took to detect."""
    comp, op = log["component"], log["operation"]
    vanished = log[(comp == "Client") & (op == "vanish")].set_index("key")["time"]
    detected = log[(comp == "Health_Monitor") & (op == "detect_timeout")].set_index("key")["time"]
    delays = [float(detected[k] - vanished[k]) for k in vanished.index if k in detected.index]
    return {
        "opened": count_steps(log, "Connection_Manager", "register"),
        "unregistered": count_steps(log, "Connection_Manager", "unregister"),
        "dropped": count_steps(log, "Metrics_Collector", "record_dropped"),
        "health_pings": count_steps(log, "Health_Monitor", "health_check"),
        "confirmed": count_steps(log, "Connection_Manager", "health_confirmed", "ok"),
        "detect_delay_max": max(delays) if delays else None,
    }
