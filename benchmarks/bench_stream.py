"""Stream fan-out on loopback: updates/s delivered, delivery latency P50/P99, memory per connection.

A real uvicorn server (:class:`ServerThread`) and N raw ``websockets`` clients in one asyncio loop;
updates are published open-loop on a fixed schedule (not after the previous delivery, so coordinated
omission does not hide the tail), each carrying its send time (``time.perf_counter``, same process).
Baseline measured in the same run: the socket-free fan-out (``SubscriptionManager.publish`` into the
queues), i.e. what the network layer adds.  Memory per connection: tracemalloc delta of the server's
allocations while N idle subscribed connections are open, divided by N.

    .venv/bin/python benchmarks/bench_stream.py [--subscribers 100 1000] [--updates 200] [--rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import tracemalloc
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect

from supreme.api.streaming import ServerThread, StreamGateway, create_stream_app
from supreme.clock import SystemClock

CLOCK = SystemClock()


async def _open(url: str, n: int) -> list[ClientConnection]:
    conns: list[ClientConnection] = []
    for i in range(0, n, 100):
        conns += await asyncio.gather(*(connect(url, compression=None, max_queue=4096)
                                        for _ in range(min(100, n - i))))
    for ws in conns:
        await ws.send(json.dumps({"op": "subscribe", "symbols": ["A"], "channels": ["trades"], "id": 1}))
    for ws in conns:
        await asyncio.wait_for(ws.recv(), 30)  # the ack
    return conns


async def _receive(ws: ClientConnection, n: int, latencies: list[float]) -> int:
    got = 0
    while got < n:
        msg = json.loads(await ws.recv())
        if msg.get("type") == "update":
            latencies.append(time.perf_counter() - msg["data"]["sent"])
            got += 1
    return got


def run_one(n_subs: int, n_updates: int, rate: float) -> dict[str, Any]:
    """One server, ``n_subs`` subscribers, ``n_updates`` published at ``rate`` per second."""
    gateway = StreamGateway.build(CLOCK, allow_anonymous=True, queue_size=4096, ping_interval=3600.0)
    with ServerThread(create_stream_app(gateway), gateway) as server:

        async def scenario() -> dict[str, Any]:
            tracemalloc.start()
            before = tracemalloc.take_snapshot()
            conns = await _open(server.url, n_subs)
            after = tracemalloc.take_snapshot()
            tracemalloc.stop()
            grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
            latencies: list[float] = []
            receivers = [asyncio.ensure_future(_receive(ws, n_updates, latencies)) for ws in conns]
            t0 = time.perf_counter()
            for k in range(n_updates):
                due = t0 + k / rate
                await CLOCK.asleep(due - time.perf_counter())
                gateway.publish_threadsafe({"symbol": "A", "channel": "trades", "timestamp": k,
                                            "data": {"k": k, "sent": time.perf_counter()}})
            await asyncio.wait_for(asyncio.gather(*receivers), 300)
            elapsed = time.perf_counter() - t0
            for ws in conns:
                await ws.close()
            lat = np.asarray(latencies) * 1000
            return {"subscribers": n_subs, "updates": n_updates,
                    "deliveries_per_s": len(latencies) / elapsed,
                    "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
                    "mem_per_conn_kib": grown / n_subs / 1024, "dropped": gateway.connections.dropped}

        return asyncio.run(scenario())


def baseline(n_subs: int, n_updates: int) -> float:
    """Deliveries/s of the socket-free fan-out into the send queues (no network)."""
    gateway = StreamGateway.build(CLOCK, allow_anonymous=True, queue_size=n_updates + 1)
    conns = [gateway.connections.register(None) for _ in range(n_subs)]
    for c in conns:
        gateway.subscriptions.subscribe(c, ["A"], ["trades"])
    t0 = time.perf_counter()
    for k in range(n_updates):
        gateway.publish({"symbol": "A", "channel": "trades", "timestamp": k, "data": {"k": k, "sent": t0}})
    return n_subs * n_updates / (time.perf_counter() - t0)


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200.0, help="updates published per second")
    args = parser.parse_args()
    rows = []
    for n in args.subscribers:
        row = run_one(n, args.updates, args.rate)
        row["baseline_per_s"] = baseline(n, args.updates)
        rows.append(row)
    print(f"{'subs':>6} {'updates':>8} {'deliv/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'KiB/conn':>9} "
          f"{'no-net deliv/s':>15} {'net/no-net':>10} {'dropped':>7}")
    for r in rows:
        print(f"{r['subscribers']:>6} {r['updates']:>8} {r['deliveries_per_s']:>10.0f} {r['p50_ms']:>8.2f} "
              f"{r['p99_ms']:>8.2f} {r['mem_per_conn_kib']:>9.1f} {r['baseline_per_s']:>15.0f} "
              f"{r['deliveries_per_s'] / r['baseline_per_s']:>10.3f} {r['dropped']:>7}")


if __name__ == "__main__":
    main()
