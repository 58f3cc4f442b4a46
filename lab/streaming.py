"""Notebook 07: WebSocket fan-out and connection lifecycle — simulated, and real on loopback.

Simulated: :mod:`sim.models.ws_streaming` (the real ConnectionManager/SubscriptionManager/HealthMonitor
and MarketDataFeed on SimPy time, simulated sockets and network) at several client counts, and
:mod:`sim.models.ws_lifecycle` (handshake, pings, a client that vanishes, graceful closes).
Real: :class:`~supreme.api.streaming.router.ServerThread` (uvicorn on 127.0.0.1, OS-chosen port) with
the real gateway; :class:`~supreme.api.streaming.client.StreamClient` clients subscribe and receive
candles of the bundled sample published through the gateway.  Real delivery delays are wall-clock;
what the notebook prints from the real run is only what must not vary (counts, order, gaps).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from sim.runner import get_model, run_model
from supreme.events import EventLog

__all__ = [
    "conclusion",
    "delivery_delays",
    "fanout",
    "lifecycle",
    "lifecycle_steps",
    "measure_loopback",
    "plot_fanout",
    "plot_lifecycle",
]


def fanout(
    clients: list[int], seed: int = 0, duration: float = 60.0
) -> tuple[pd.DataFrame, dict[int, pd.DataFrame]]:
    """Run the streaming model for each client count; summary rows and each run's delivery delays."""
    rows, delays = [], {}
    for n in clients:
        log = run_model(
            "ws_streaming",
            {"clients": n, "seed": seed, "duration": duration, "client.unsubscribe_at": duration * 0.9},
        )
        upd = delivery_delays(log)
        d = upd["delay"].to_numpy(float)
        delays[n] = upd
        rows.append(
            {
                "clients": n,
                **get_model("ws_streaming").summarize(log),
                "delay_p50_ms": round(float(np.percentile(d, 50)) * 1e3, 3) if d.size else np.nan,
                "delay_p99_ms": round(float(np.percentile(d, 99)) * 1e3, 3) if d.size else np.nan,
            }
        )
    return pd.DataFrame.from_records(rows), delays


def delivery_delays(log: pd.DataFrame) -> pd.DataFrame:
    """Per received update: the delay since the latest broadcast of its stream (publish → client)."""
    upd = log[(log["component"] == "Client") & (log["operation"] == "update")][["time", "key"]]
    sent = log[(log["component"] == "Subscription_Manager") & (log["operation"] == "broadcast")][
        ["time", "key"]
    ]
    sent = sent.assign(sent=sent["time"])
    out = pd.merge_asof(
        upd.sort_values("time"), sent.sort_values("time"), on="time", by="key", direction="backward"
    )
    return out.assign(delay=out["time"] - out["sent"])


def plot_fanout(table: pd.DataFrame) -> Any:
    """Updates received and delivery delay percentiles against the number of clients."""
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    ax1.plot(table["clients"], table["updates_received"], marker="o", label="updates received (all clients)")
    ax1.plot(
        table["clients"],
        table["broadcasts"] * table["clients"],
        ls="--",
        color="gray",
        label="broadcasts x clients",
    )
    ax1.set_xlabel("clients")
    ax1.set_ylabel("updates")
    ax1.legend()
    ax1.set_title("fan-out: one broadcast reaches every subscriber")
    ax2.plot(table["clients"], table["delay_p50_ms"], marker="o", label="P50")
    ax2.plot(table["clients"], table["delay_p99_ms"], marker="o", label="P99")
    ax2.set_xlabel("clients")
    ax2.set_ylabel("delivery delay (ms)")
    ax2.set_title("publish → client, simulated network")
    ax2.legend()
    fig.tight_layout()
    return fig


def lifecycle(seed: int = 0) -> pd.DataFrame:
    """The lifecycle model's event log."""
    return run_model("ws_lifecycle", {"seed": seed})


_MARKS = {
    ("Connection_Manager", "register"): "registered",
    ("Client", "vanish"): "vanished",
    ("Health_Monitor", "detect_timeout"): "timeout detected",
    ("Client", "close_frame"): "close",
    ("Connection_Manager", "unregister"): "unregistered",
    ("Connection_Manager", "force_close"): "force close",
}


def _connection_ids(log: pd.DataFrame) -> dict[str, int]:
    """Client name -> connection id, from the manager's register rows (their detail names the client)."""
    reg = log[(log["component"] == "Connection_Manager") & (log["operation"] == "register")]
    return {str(d): int(k) for k, d in zip(reg["key"], reg["detail"], strict=True) if pd.notna(d)}


def lifecycle_steps(log: pd.DataFrame) -> pd.DataFrame:
    """The connection-level steps (register, vanish, timeout, close, unregister) per connection.

    The client's own rows are keyed by its name, the server's by the connection id; both are shown
    under one id (``connection``) with the client's name beside it.
    """
    mask = [(c, o) in _MARKS for c, o in zip(log["component"], log["operation"], strict=True)]
    steps = log[mask]
    ids = _connection_ids(log)
    names = {v: k for k, v in ids.items()}
    conn = [ids[str(k)] if str(k) in ids else int(k) for k in steps["key"]]
    return pd.DataFrame(
        {
            "time": steps["time"].round(2).to_numpy(),
            "connection": conn,
            "client": [names.get(c, "?") for c in conn],
            "step": [_MARKS[(c, o)] for c, o in zip(steps["component"], steps["operation"], strict=True)],
        }
    )


#: Marker colour and shape per lifecycle step, in the order a connection goes through them.
_STEP_STYLE = {
    "registered": ("tab:green", "o"),
    "vanished": ("tab:red", "X"),
    "timeout detected": ("black", "s"),
    "force close": ("tab:orange", "D"),
    "close": ("tab:blue", "o"),
    "unregistered": ("tab:gray", "v"),
}


def plot_lifecycle(log: pd.DataFrame) -> Any:
    """One line per connection from register to unregister, with its pings and end marked."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    steps = lifecycle_steps(log)
    conns = sorted(dict.fromkeys(steps["connection"]))
    names = dict(zip(steps["connection"], steps["client"], strict=True))
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(conns) + 2.2), layout="constrained")
    pings = log[(log["component"] == "Health_Monitor") & (log["operation"] == "health_check")]
    for y, c in enumerate(conns):
        s = steps[steps["connection"] == c]
        ax.hlines(y, s["time"].min(), s["time"].max(), color="lightgray", lw=6)
        p = pings[pings["key"].astype(str) == str(c)]
        ax.scatter(p["time"], [y] * len(p), marker="|", color="tab:purple", s=80)
        for step, g in s.groupby("step"):
            color, marker = _STEP_STYLE[step]
            ax.scatter(g["time"], [y] * len(g), color=color, marker=marker, zorder=3)
    handles = [Line2D([], [], color="lightgray", lw=6, label="connected"),
               Line2D([], [], color="tab:purple", marker="|", ls="", markersize=10, label="health ping")]
    handles += [Line2D([], [], color=color, marker=marker, ls="", label=step)
                for step, (color, marker) in _STEP_STYLE.items() if step in set(steps["step"])]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles))
    ax.set_yticks(range(len(conns)), [f"conn {c} ({names[c]})" for c in conns])
    ax.set_ylim(-0.6, len(conns) - 0.4)
    ax.set_ylabel("connection (client)")
    ax.set_xlabel("time (s, simulated)")
    ax.set_title("WebSocket connection lifecycle (simulated)")
    return fig


def _loopback(clients: int, updates: int, symbol: str) -> dict[str, Any]:
    from supreme.api.streaming import ServerThread, StreamClient, StreamGateway, create_stream_app
    from supreme.market import load_sample

    candles = load_sample(symbol).tail(updates)
    log = EventLog(run_id="ws-loopback", world="real")
    gateway = StreamGateway.build(event_log=log, allow_anonymous=True, required_scopes=())
    server = ServerThread(create_stream_app(gateway), gateway).start()
    try:

        async def go() -> list[pd.DataFrame]:
            conns = [StreamClient(server.url) for _ in range(clients)]
            for c in conns:
                await c.__aenter__()
            try:
                for c in conns:
                    await c.subscribe([symbol], ["candles"])
                for row in candles.itertuples(index=False):
                    gateway.publish_threadsafe(
                        {
                            "symbol": symbol,
                            "channel": "candles",
                            "timestamp": int(row[0]),
                            "data": [int(row[0]), *map(float, row[1:])],
                        }
                    )
                return [await c.collect(n=updates, seconds=30) for c in conns]
            finally:
                for c in conns:
                    await c.__aexit__(None, None, None)

        frames = asyncio.run(go())
    finally:
        server.stop()
    return {"frames": frames, "log": log.to_frame(), "sent": updates, "clients": clients}


def measure_loopback(clients: int = 4, updates: int = 200, symbol: str = "SPX") -> dict[str, Any]:
    """Real server on 127.0.0.1 and ``clients`` real clients; what each received (run in a worker thread)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_loopback, clients, updates, symbol).result()


def conclusion(table: pd.DataFrame, life: pd.DataFrame, real: dict[str, Any] | None) -> str:
    """Fan-out, lifecycle and loopback facts, worded from the runs."""
    lines = []
    exact = bool((table["updates_received"] <= table["broadcasts"] * table["clients"]).all())
    lines.append(
        f"- sim fan-out: from {table['clients'].min()} to {table['clients'].max()} clients, updates received "
        f"grow from {table['updates_received'].iloc[0]} to {table['updates_received'].iloc[-1]} "
        f"(never more than broadcasts x clients: {exact}); P99 delivery delay "
        f"{table['delay_p99_ms'].iloc[0]:.1f} → {table['delay_p99_ms'].iloc[-1]:.1f} ms."
    )
    s = get_model("ws_lifecycle").summarize(life)
    sc = life.attrs["scenario"]
    lines.append(
        f"- sim lifecycle: {s['opened']} connections opened, {s['unregistered']} unregistered, "
        f"{s['dropped']} dropped without a close frame and detected {s['detect_delay_max']:.1f} s after it "
        f"vanished (health ping every {sc['health.interval']:g} s, timeout {sc['health.timeout']:g} s)."
    )
    if real is not None:
        ok = all(list(f["seq"]) == list(range(1, real["sent"] + 1)) for f in real["frames"])
        lines.append(
            f"- real loopback: {real['clients']} clients each received all {real['sent']} published candles "
            f"in order with no gaps: {ok}."
        )
    return "\n".join(lines)
