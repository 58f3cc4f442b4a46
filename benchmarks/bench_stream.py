"""Stream fan-out on loopback: updates/s delivered, delivery latency P50/P99, memory per connection.

The server is a real uvicorn :class:`ServerThread` (the app's protocol, with the shared send path) in
this process; the subscribers run in ``--client-procs`` *separate processes* (multiprocessing,
spawn), so their CPU does not share the server's GIL.  Each client process holds its share of the
N connections in one asyncio loop: a plain WebSocket client over a real socket (HTTP upgrade, then
frames parsed off the stream, each message decoded with orjson, ``seq`` checked per connection).

Updates are published open-loop on a fixed schedule (not after the previous delivery, so coordinated
omission does not hide the tail) from a publisher thread, each carrying its send time.  Latency is
receipt time minus send time, both read with ``time.time()`` -- CLOCK_REALTIME, one clock for every
process on this host (``perf_counter`` is per process and not comparable); the receipt time is read
once per socket read, before the frames in it are parsed.

Server cost: ``fan-out ms`` is the time one ``publish`` takes on the server loop (on the shared
path it includes the socket writes; on the ``--compare-asgi`` path only the enqueueing), ``srv
µs/deliv`` the server process's CPU time per delivery (robust on a shared machine: CPU, not wall
time), ``srv cores`` / ``cli cores`` the CPU each side used over the run, ``batch`` the mean number
of updates fanned out together (they piled up while the server was busy).

Baseline measured in the same run: the socket-free fan-out (``SubscriptionManager.publish`` into the
queues), i.e. what the network layer adds.  Memory per connection: tracemalloc delta of the server's
allocations while N idle subscribed connections are open, divided by N.

``--find-rate``: when the largest subscriber count misses P99 <= ``--target-ms`` at ``--rate``, the
highest rate (bisection, same number of updates) at which it holds, reported separately.

    .venv/bin/python benchmarks/bench_stream.py [--subscribers 100 1000] [--updates 200] [--rate 200]
                                                [--client-procs 2] [--find-rate] [--target-ms 50]
                                                [--compare-asgi]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import multiprocessing as mp
import os
import threading
import time
import tracemalloc
from typing import Any

import numpy as np
import orjson

from supreme.api.streaming import STREAM_PATH, ServerThread, StreamGateway, create_stream_app
from supreme.clock import SystemClock

GC_DEFAULTS = gc.get_threshold()  # the interpreter's, read before anything tunes them
CLOCK = SystemClock()
_SUBSCRIBE = b'{"op":"subscribe","symbols":["A"],"channels":["trades"],"id":1}'


def _client_frame(payload: bytes) -> bytes:
    """A masked client text frame (RFC 6455 §5.3), short payloads only."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x81, 0x80 | len(payload))) + mask + masked


class _Sub(asyncio.Protocol):
    """One subscriber connection: upgrade, subscribe, then parse frames as they arrive (a protocol
    callback per socket read: no task wake-up per message) and record latencies."""

    def __init__(self, host: str, port: int, n_updates: int, lat: list[float], done: Any) -> None:
        self.host, self.port, self.n_updates, self.lat = host, port, n_updates, lat
        self.done = done  # callback once n_updates arrived (or the stream failed)
        self.last_seq = self.got = self.gaps = self.skipped = 0
        self.buf = bytearray()
        self.upgraded = self.acked = False
        self.error: str | None = None
        self.transport: asyncio.Transport | None = None
        self.ready = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {STREAM_PATH} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def _fail(self, why: str) -> None:
        if self.error is None:
            self.error = why
            if not self.ready.done():
                self.ready.set_exception(RuntimeError(why))
            self.done(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.got < self.n_updates:
            self._fail(f"connection lost after {self.got} updates: {exc}")

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self._fail(f"upgrade refused: {bytes(buf[:80])!r}")
                return
            del buf[: end + 4]
            self.upgraded = True
            assert self.transport is not None
            self.transport.write(_client_frame(_SUBSCRIBE))
        pos, n = 0, len(buf)
        while n - pos >= 2:
            size, head = buf[pos + 1] & 0x7F, 2
            if size == 126:
                if n - pos < 4:
                    break
                size, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif size == 127:
                if n - pos < 10:
                    break
                size, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            end = pos + head + size
            if end > n:
                break
            opcode = buf[pos] & 0x0F
            if opcode == 1:
                msg = orjson.loads(memoryview(buf)[pos + head : end])
                if msg.get("type") == "update":
                    seq, skipped = msg["seq"], msg.get("skipped", 0)
                    self.skipped += skipped
                    self.gaps += seq != self.last_seq + 1 + skipped
                    self.last_seq = seq
                    self.lat.append(now - msg["data"]["sent"])
                    self.got += 1
                    if self.got == self.n_updates:
                        self.done(self)
                elif msg.get("type") == "ack" and not self.ready.done():
                    self.ready.set_result(None)
            elif opcode == 8:
                self._fail(f"server sent close after {self.got} updates")
            pos = end
        del buf[:pos]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.write(bytes((0x88, 0x82)) + b"\0\0\0\0" + (1000).to_bytes(2, "big"))
            self.transport.close()


def _client_proc(host: str, port: int, n: int, n_updates: int, ready: Any, out: Any) -> None:
    """One client process: ``n`` subscribers; reports latencies (s) and seq checks through ``out``."""

    async def main() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        lat: list[float] = []
        finished = loop.create_future()
        left = [n]

        def done(sub: _Sub) -> None:
            left[0] -= 1
            if (sub.error or not left[0]) and not finished.done():
                finished.set_result(sub.error)

        subs: list[_Sub] = []
        for i in range(0, n, 100):
            opened = await asyncio.gather(
                *(
                    loop.create_connection(lambda: _Sub(host, port, n_updates, lat, done), host, port)
                    for _ in range(min(100, n - i))
                )
            )
            subs += [proto for _t, proto in opened]
        await asyncio.wait_for(asyncio.gather(*(s.ready for s in subs)), 60)
        ready.set()
        cpu0 = time.process_time()
        error = await asyncio.wait_for(finished, 600)
        if error:
            raise RuntimeError(error)
        for s in subs:
            s.close()
        return {
            "lat": np.asarray(lat).tobytes(),
            "gaps": sum(s.gaps for s in subs),
            "skipped": sum(s.skipped for s in subs),
            "last": time.time(),
            "cpu": time.process_time() - cpu0,
        }

    try:
        out.put(asyncio.run(main()))
    except Exception as exc:  # reported to the parent, which fails the run with it
        ready.set()
        out.put({"error": f"{type(exc).__name__}: {exc}"})


def run_one(n_subs: int, n_updates: int, rate: float, procs: int = 2, asgi: bool = False,
            gc_tuning: bool = True) -> dict[str, Any]:
    """One server, ``n_subs`` subscribers in ``procs`` client processes, ``n_updates`` at ``rate``/s;
    ``asgi``: plain uvicorn ``websockets-sansio`` (every message through ASGI ``websocket.send``)."""
    gateway = StreamGateway.build(CLOCK, allow_anonymous=True, queue_size=4096, ping_interval=3600.0)
    ctx = mp.get_context("spawn")
    options: dict[str, Any] = {"ws": "websockets-sansio"} if asgi else {}
    # gc_tuning: the collector settings `supreme serve` applies before it runs (supreme.api.gc_tuning);
    # without it, the interpreter's defaults (an earlier row's tuning undone)
    if not gc_tuning:
        gc.unfreeze()
        gc.set_threshold(*GC_DEFAULTS)
    with ServerThread(create_stream_app(gateway), gateway, ping_interval=None, gc_tuning=gc_tuning,
                      **options) as server:
        out = ctx.Queue()
        shares = [n_subs // procs + (i < n_subs % procs) for i in range(procs)]
        readies = [ctx.Event() for _ in shares]
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        workers = [
            ctx.Process(target=_client_proc, args=(server.host, server.port, k, n_updates, r, out))
            for k, r in zip(shares, readies, strict=True)
            if k
        ]
        for w in workers:
            w.start()
        for r in readies[: len(workers)]:
            r.wait(120)
        waiter = threading.Event()  # bounded pause: the last acks are read, connections are idle
        for _ in range(200):
            if len(gateway.connections) == n_subs and all(
                c.queue.empty() for c in gateway.connections.connections
            ):
                break
            waiter.wait(0.01)
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
        direct0 = gateway.subscriptions.sent_direct
        fanout: list[float] = []  # wall time per update of the fan-out on the server loop (perf_counter)
        batches: list[int] = []
        publish_batch = gateway.subscriptions.publish_batch

        def timed(updates: Any) -> int:  # the gateway's own hand-over path, timed
            s0 = time.perf_counter()
            try:
                return publish_batch(updates)
            finally:
                fanout.extend([(time.perf_counter() - s0) / len(updates)] * len(updates))
                batches.append(len(updates))

        gateway.subscriptions.publish_batch = timed  # type: ignore[method-assign]
        t0, cpu0 = time.time(), time.process_time()
        for k in range(n_updates):  # open loop: each update at its scheduled time, whatever came before
            delay = t0 + k / rate - time.time()
            if delay > 0:
                waiter.wait(delay)
            gateway.publish_threadsafe(
                {"symbol": "A", "channel": "trades", "timestamp": k, "data": {"k": k, "sent": time.time()}}
            )
        results = [out.get(timeout=600) for _ in workers]
        for w in workers:
            w.join(30)
        errors = [r["error"] for r in results if "error" in r]
        if errors:
            raise RuntimeError(f"client process failed: {errors[0]}")
        elapsed = max(r["last"] for r in results) - t0
        server_cpu = time.process_time() - cpu0  # this process: the server thread and the publisher
        lat = np.concatenate([np.frombuffer(r["lat"]) for r in results]) * 1000
        return {
            "subscribers": n_subs,
            "path": "asgi" if asgi else "shared",
            "updates": n_updates,
            "rate": rate,
            "deliveries_per_s": len(lat) / elapsed,
            "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)),
            "max_ms": float(lat.max()),
            "fanout_ms": float(np.mean(fanout)) * 1000,
            "mean_batch": float(np.mean(batches)),
            "mem_per_conn_kib": grown / n_subs / 1024,
            "dropped": gateway.connections.dropped,
            "gaps": sum(r["gaps"] for r in results),
            "skipped": sum(r["skipped"] for r in results),
            "direct_share": (gateway.subscriptions.sent_direct - direct0) / max(len(lat), 1),
            "server_cores": server_cpu / elapsed,
            "server_us_per_delivery": server_cpu / max(len(lat), 1) * 1e6,
            "client_cores": sum(r["cpu"] for r in results) / elapsed,
        }


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


def find_rate(
    n_subs: int, n_updates: int, hi: float, target_ms: float, procs: int
) -> tuple[float, dict[str, Any]]:
    """Highest rate (bisection over [hi/64, hi], 6 steps) at which ``n_subs`` keep P99 <= target."""
    lo, best = hi / 64, None
    row = run_one(n_subs, n_updates, lo, procs)
    if row["p99_ms"] > target_ms:
        return 0.0, row
    best = row
    for _ in range(6):
        mid = (lo + hi) / 2
        row = run_one(n_subs, n_updates, mid, procs)
        if row["p99_ms"] <= target_ms:
            lo, best = mid, row
        else:
            hi = mid
    return lo, best


def _print(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'path':>6} {'subs':>6} {'upd':>5} {'rate/s':>7} {'deliv/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} "
        f"{'fan-out ms':>10} {'KiB/conn':>8} {'no-net deliv/s':>14} {'direct':>6} {'gaps':>4} "
        f"{'skipped':>7} {'dropped':>7} {'srv cores':>9} {'cli cores':>9} {'srv µs/deliv':>12} {'batch':>5}"
    )
    for r in rows:
        print(
            f"{r['path']:>6} {r['subscribers']:>6} {r['updates']:>5} {r['rate']:>7.0f} "
            f"{r['deliveries_per_s']:>9.0f} "
            f"{r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['max_ms']:>8.1f} {r['fanout_ms']:>10.2f} "
            f"{r['mem_per_conn_kib']:>8.1f} "
            f"{r.get('baseline_per_s', float('nan')):>14.0f} {r['direct_share']:>6.2f} {r['gaps']:>4} "
            f"{r['skipped']:>7} {r['dropped']:>7} {r['server_cores']:>9.2f} {r['client_cores']:>9.2f} "
            f"{r['server_us_per_delivery']:>12.2f} {r['mean_batch']:>5.1f}"
        )


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200.0, help="updates published per second")
    parser.add_argument("--client-procs", type=int, default=2, help="client processes (separate GILs)")
    parser.add_argument(
        "--find-rate", action="store_true", help="also search the highest rate meeting the target"
    )
    parser.add_argument("--target-ms", type=float, default=50.0, help="P99 delivery target")
    parser.add_argument(
        "--compare-asgi", action="store_true", help="also run each count through plain ASGI sends (before)"
    )
    parser.add_argument(
        "--compare-gc", action="store_true",
        help="first run each count with the interpreter's default collector settings (before serve's tuning)",
    )
    args = parser.parse_args()
    if args.client_procs < 1 or args.updates < 1 or not args.rate > 0:
        parser.error("--client-procs and --updates must be >= 1 and --rate > 0")
    rows = []
    for n in args.subscribers:
        if args.compare_gc:
            rows.append({**run_one(n, args.updates, args.rate, args.client_procs, gc_tuning=False),
                         "path": "gc-default"})
        row = run_one(n, args.updates, args.rate, args.client_procs)
        row["baseline_per_s"] = baseline(n, args.updates)
        rows.append(row)
        if args.compare_asgi:
            rows.append(run_one(n, args.updates, args.rate, args.client_procs, asgi=True))
    print(
        f"clients in {args.client_procs} separate process(es); latency = time.time() at receipt - at publish"
    )
    _print(rows)
    for r in rows:
        verdict = "meets" if r["p99_ms"] <= args.target_ms else "MISSES"
        print(
            f"{r['subscribers']} subscribers ({r['path']}) at {r['rate']:g} updates/s: "
            f"P99 {r['p99_ms']:.1f} ms "
            f"{verdict} the {args.target_ms:g} ms target"
        )
    biggest = [r for r in rows if r["path"] == "shared"][-1]
    if args.find_rate and biggest["p99_ms"] > args.target_ms:
        rate, row = find_rate(
            biggest["subscribers"], args.updates, args.rate, args.target_ms, args.client_procs
        )
        print(
            f"highest rate with {biggest['subscribers']} subscribers and P99 <= {args.target_ms:g} ms: "
            f"{rate:.0f} updates/s ({rate * biggest['subscribers']:.0f} deliveries/s)"
        )
        _print([row])


if __name__ == "__main__":
    main()
