"""Cost per request of authentication and rate limiting, against baselines measured in the same run.

Prints µs per call for: a bare HMAC-SHA256 digest (baseline), a full signature check (Ed25519 / HMAC,
key record cached vs. looked up in SQLite each time), session validation (cached), and GCRA
in memory vs. in Redis (fakeredis, and the real server when reachable), each with its ratio to the
baseline.  The nonce store is fakeredis unless --redis-url is given.

    .venv/bin/python benchmarks/bench_auth.py [--n 2000] [--redis-url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import fakeredis

from supreme.api.auth import (
    AuthService,
    KeyStore,
    ReplayGuard,
    SecretCipher,
    SessionStore,
    load_private_key,
    sign_request,
)
from supreme.api.ratelimit import InMemoryRateLimiter, RedisRateLimiter
from supreme.clock import ManualClock
from supreme.db import Database


def per_call_us(fn: Callable[[int], Any], n: int) -> float:
    """Median of 3 runs of ``n`` calls, µs per call."""
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        for i in range(n):
            fn(i)
        runs.append((time.perf_counter() - t0) / n * 1e6)
    return sorted(runs)[1]


def main() -> None:
    """Run every measurement and print a table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--redis-url", default=None, help="real Redis for the nonce store and the Redis limiter")
    args = ap.parse_args()
    n = args.n

    clock = ManualClock(1_700_000_000.0)
    tmp = tempfile.mkdtemp()
    db = Database.from_url(f"sqlite:///{tmp}/bench.db")
    store = KeyStore(db, clock, SecretCipher(os.urandom(32)))
    ns = f"bench{uuid.uuid4().hex[:8]}:"
    real: Any = None
    if args.redis_url:
        import redis

        real = redis.Redis.from_url(args.redis_url)
    nonce_client = real if real is not None else fakeredis.FakeRedis()

    def service(cache_ttl: float) -> AuthService:
        return AuthService(
            store,
            clock,
            replay=ReplayGuard(nonce_client, ns),
            sessions=SessionStore(nonce_client, clock, namespace=ns),
            cache_ttl=cache_ttl,
        )

    cached, uncached = service(5.0), service(0.0)
    keys = {t: store.create(t, "signal:read") for t in ("ed25519", "hmac")}
    body = b'{"symbol":"BTC/USDT","timeframe":"1m"}'
    path = "/api/v1/trading/signal"
    ts = round(clock.now() * 1000)

    def presigned(kind: str, tag: str) -> list[dict[str, str]]:
        k = keys[kind]
        return [
            sign_request(k.record.key_id, k.credential, "POST", path, body, ts, f"{tag}{i}")
            for i in range(n * 3)
        ]

    secret = b"x" * 43
    msg = b"1700000000000\nPOST\n/api/v1/trading/signal\n\n" + hashlib.sha256(body).hexdigest().encode()
    baseline = per_call_us(lambda i: hmac.new(secret, msg, hashlib.sha256).digest(), n)
    rows: list[tuple[str, float]] = [("baseline: bare hmac.new(...).digest()", baseline)]

    for kind in ("hmac", "ed25519"):
        for label, svc in (("cached key", cached), ("SQLite lookup", uncached)):
            reqs = presigned(kind, f"{kind}{label[:3]}")
            it = iter(reqs)

            def verify(i: int, s: AuthService = svc, it: Any = it) -> None:
                s.authenticate(next(it), "POST", path, body)

            rows.append((f"verify {kind:7s} ({label})", per_call_us(verify, n)))
    k = keys["ed25519"].record
    issued = cached.sessions.create(k.key_id, k.scopes)
    rows.append(
        ("session bearer (cached)", per_call_us(lambda i: cached.authenticate_session(issued.token), n))
    )
    k2 = keys["ed25519"]
    pk = load_private_key(k2.credential)
    rows.append(
        (
            "client sign_request ed25519 (key object)",
            per_call_us(lambda i: sign_request(k2.record.key_id, pk, "GET", "/", b"", ts), n),
        )
    )
    rows.append(
        (
            "nonce store alone: SET NX PX",
            per_call_us(lambda i: nonce_client.set(f"{ns}x{i}", b"1", nx=True, px=60000), n),
        )
    )

    mem = InMemoryRateLimiter(1e5, 10**6, clock)
    rows.append(("GCRA in memory", per_call_us(lambda i: mem.check("k"), n)))
    fake = RedisRateLimiter(fakeredis.FakeRedis(), 1e5, 10**6, clock, namespace=ns)
    rows.append(("GCRA Redis (fakeredis+lupa)", per_call_us(lambda i: fake.check("k"), n)))
    if real is None:
        print("(nonce store: fakeredis; pass --redis-url for the real server)")
    else:
        red = RedisRateLimiter(real, 1e5, 10**6, clock, namespace=ns)
        rows.append(("GCRA Redis (real server, Lua)", per_call_us(lambda i: red.check("k"), n)))

    print(f"{'measurement':<42} {'µs/call':>10} {'x baseline':>11}")
    for name, us in rows:
        print(f"{name:<42} {us:>10.2f} {us / baseline:>11.1f}")
    if real is not None:
        for key in real.scan_iter(match=f"{ns}*", count=1000):
            real.delete(key)
    db.close()


if __name__ == "__main__":
    main()
