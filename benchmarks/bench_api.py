"""Signal endpoint throughput and latency (cache hit / cache miss) against a bare FastAPI endpoint.

In process through ``httpx.ASGITransport`` (no sockets), closed loop (one request at a time, so the
figures are service times, not queueing), embedded back-ends (fakeredis + a temporary SQLite).
Baseline in the same run: a bare FastAPI ``POST`` that parses the same JSON body and returns a dict.

Rows:
  bare FastAPI            the framework + ASGI transport floor
  signal hit (session)    bearer session, signal from L1
  signal hit (signature)  Ed25519 signature verified per request (+ nonce SET NX in Redis)
  signal miss (engine)    signal key deleted before each request: the engine runs; candles from L1

The rows are measured in ``--rounds`` interleaved rounds (bare, hit, hit, miss, then again) and each
figure is the median over rounds; ``req/s / bare`` is the median of each round's ratio, so a noisy spell
on a shared machine shifts a whole round rather than one row.

Run: ``.venv/bin/python benchmarks/bench_api.py [-n 400] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import fakeredis
import httpx
import numpy as np
from fastapi import FastAPI

from supreme.api.app import create_app
from supreme.api.auth import sign_request
from supreme.api.services import Services
from supreme.config import Settings

SIGNAL = "/api/v1/trading/signal"
BODY = json.dumps({"symbol": "SPX", "timeframe": "1d"}).encode()


async def measure(n: int, before: Callable[[int], Awaitable[dict[str, str]]],
                  send: Callable[[dict[str, str]], Awaitable[httpx.Response]]) -> dict[str, float]:
    """``n`` sequential requests; ``before`` (untimed) prepares headers; returns req/s and percentiles."""
    lat = np.empty(n)
    for i in range(n):
        headers = await before(i)
        t0 = time.perf_counter()
        resp = await send(headers)
        lat[i] = time.perf_counter() - t0
        if resp.status_code != 200:
            raise RuntimeError(f"request {i} failed: {resp.status_code} {resp.text}")
    return {"rps": n / lat.sum(), "p50": float(np.percentile(lat, 50)) * 1e3,
            "p95": float(np.percentile(lat, 95)) * 1e3, "p99": float(np.percentile(lat, 99)) * 1e3}


async def run(n: int, rounds: int = 3) -> list[tuple[str, dict[str, float]]]:
    """Measure every row, ``rounds`` times (row after row within a round)."""
    tmp = tempfile.TemporaryDirectory(prefix="supreme-bench-api-")
    settings = Settings(redis_url=None, database_url=f"sqlite:///{Path(tmp.name) / 'b.db'}",
                        data_dir=Path(tmp.name))
    svc = Services.from_settings(settings, symbols=["SPX"], redis_client=fakeredis.FakeRedis(),
                                 ip_rate=1e5, ip_burst=10**6, key_rate=1e5, key_burst=10**6)
    svc.event_log.enabled = False  # the hot path as served, without step recording
    key = svc.auth.store.create("ed25519", "signal:read")
    app = create_app(svc)

    bare = FastAPI()

    @bare.post("/bare")
    async def bare_endpoint(body: dict[str, Any]) -> dict[str, Any]:
        return {"symbol": body.get("symbol"), "action": "HOLD"}

    rows: list[tuple[str, dict[str, float]]] = []
    ct = {"content-type": "application/json"}

    async def nothing(i: int) -> dict[str, str]:
        return ct

    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=bare), base_url="http://b") as cb, \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
            path = "/api/v1/auth/session"
            login = sign_request(key.record.key_id, key.credential, "POST", path, b"",
                                 int(svc.clock.now() * 1000), nonce="bench-login")
            token = (await c.post(path, headers=login)).json()["token"]
            bearer = {**ct, "authorization": f"Bearer {token}"}
            signatures = iter(range(10**9))

            async def session(i: int) -> dict[str, str]:
                return bearer

            async def signature(i: int) -> dict[str, str]:
                h = sign_request(key.record.key_id, key.credential, "POST", SIGNAL, BODY,
                                 int(svc.clock.now() * 1000), nonce=f"b{next(signatures)}")
                return {**ct, **h}

            first = await c.post(SIGNAL, content=BODY, headers=bearer)  # warm: JIT, caches
            cache_key = first.json()["meta"]["cache_key"]

            async def evict(i: int) -> dict[str, str]:
                svc.cache.delete(cache_key)
                return bearer

            send = lambda h: c.post(SIGNAL, content=BODY, headers=h)  # noqa: E731
            send_bare = lambda h: cb.post("/bare", content=BODY, headers=h)  # noqa: E731
            await measure(50, nothing, send_bare)
            await measure(50, session, send)
            plan = [("bare FastAPI", n, nothing, send_bare), ("signal hit (session)", n, session, send),
                    ("signal hit (signature)", n, signature, send),
                    ("signal miss (engine)", max(50, n // 4), evict, send)]
            for _ in range(rounds):  # rows interleaved round by round: a noisy spell hits every row alike
                for name, k, before, how in plan:
                    rows.append((name, await measure(k, before, how)))
    finally:
        svc.close()
        tmp.cleanup()
    return rows


def summarise(rows: list[tuple[str, dict[str, float]]]) -> list[tuple[str, dict[str, float]]]:
    """Per row, the median over rounds of each figure and of its req/s ratio to the same round's bare."""
    names = list(dict.fromkeys(name for name, _ in rows))
    per_round = len(names)
    out = []
    for j, name in enumerate(names):
        mine = [r for i, (_, r) in enumerate(rows) if i % per_round == j]
        bare = [r for i, (_, r) in enumerate(rows) if i % per_round == 0]
        fig = {k: float(np.median([r[k] for r in mine])) for k in mine[0]}
        fig["ratio"] = float(np.median([m["rps"] / b["rps"] for m, b in zip(mine, bare, strict=True)]))
        out.append((name, fig))
    return out


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=400, help="requests per row and round (default 400)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds, medians shown (default 3)")
    args = parser.parse_args()
    if args.n < 1 or args.rounds < 1:
        parser.error("-n and --rounds must be >= 1")
    rows = summarise(asyncio.run(run(args.n, args.rounds)))
    base = rows[0][1]
    print(f"median of {args.rounds} interleaved rounds of {args.n} requests per row")
    print(f"{'path':<24} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'p50 / bare':>11} "
          f"{'req/s / bare':>13}")
    for name, r in rows:
        print(f"{name:<24} {r['rps']:>9.0f} {r['p50']:>8.3f} {r['p95']:>8.3f} {r['p99']:>8.3f} "
              f"{r['p50'] / base['p50']:>10.1f}x {r['ratio']:>12.2f}x")


if __name__ == "__main__":
    main()
