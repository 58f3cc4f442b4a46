"""Cost per request of authentication and rate limiting, against baselines measured in the same run.

Prints µs per call, each with its ratio to a baseline measured in the same run:

* signature verification with the cached key (the loaded Ed25519 public key / the decrypted HMAC
  secret kept by ``AuthService``'s key cache): ``AuthService.check_signature`` -- headers, timestamp
  window, cached key, canonical string, signature -- against the bare primitive on the same key and
  message (``Ed25519PublicKey.verify``; ``hmac.new(...).digest()`` + ``compare_digest``), with the
  issue's targets (Ed25519 <= 60 µs, HMAC <= 20 µs);
* the full check (plus the shared replay store's SET NX PX and the scopes), key cached vs. looked up
  in SQLite each time; session validation (cached); GCRA in memory vs. in Redis (fakeredis, and the
  real server when given), against the bare HMAC digest.

The nonce store is fakeredis unless --redis-url is given.  The service verifies Ed25519 with libsodium
(PyNaCl's ``VerifyKey``); its bare ``VerifyKey.verify`` is printed too, as the floor of that row.

    .venv/bin/python benchmarks/bench_auth.py [--n 2000] [--redis-url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import fakeredis
from cryptography.hazmat.primitives import serialization

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


def _bare(kind: str, credential: str, signature: bytes, message: bytes, n: int) -> tuple[str, float, Any]:
    """The bare primitive on this key and message: (name, µs per call, the loaded public key or None)."""
    if kind == "ed25519":
        public = load_private_key(credential).public_key()
        us = per_call_us(lambda i: public.verify(signature, message), n)
        return "bare Ed25519PublicKey.verify", us, public
    secret = credential.encode("ascii")

    def check(i: int) -> bool:
        return hmac.compare_digest(hmac.new(secret, message, hashlib.sha256).digest(), signature)

    return "bare hmac digest + compare_digest", per_call_us(check, n), None


def verify_rows(rows: list[tuple[str, float, str]], svc: AuthService, keys: dict[str, Any], body: bytes,
                path: str, ts: int, n: int) -> None:
    """Signature verification with the cached key vs. the bare primitive on the same key and message."""
    from supreme.api.auth.signing import canonical_string

    targets = {"ed25519": 60.0, "hmac": 20.0}
    for kind in ("ed25519", "hmac"):
        k = keys[kind]
        signed = sign_request(k.record.key_id, k.credential, "POST", path, body, ts, "bench")
        headers = {h.lower(): v for h, v in signed.items()}
        svc.check_signature(headers, "POST", path, body)  # fills the key cache
        message = canonical_string(ts, "POST", path, body, "bench")
        signature = base64.b64decode(headers["x-signature"])
        bare_name, bare, public = _bare(kind, k.credential, signature, message, n)
        ref = f"baseline: {bare_name}"
        rows.append((ref, bare, ref))

        def check(i: int, h: dict[str, str] = headers) -> None:
            svc.check_signature(h, "POST", path, body)

        rows.append((f"verify {kind} (cached key), target {targets[kind]:g} µs", per_call_us(check, n), ref))
        if public is not None:
            import nacl.signing  # the primitive the service's Verifier calls

            vk = nacl.signing.VerifyKey(public.public_bytes(serialization.Encoding.Raw,
                                                            serialization.PublicFormat.Raw))

            def sodium(i: int, m: bytes = message, s: bytes = signature, v: Any = vk) -> None:
                v.verify(m, s)

            rows.append(("bare PyNaCl VerifyKey.verify (what we call)", per_call_us(sodium, n), ref))


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
    base = "bare hmac digest"
    rows: list[tuple[str, float, str]] = [("baseline: bare hmac.new(...).digest()", baseline, base)]
    verify_rows(rows, cached, keys, body, path, ts, n)
    for kind in ("hmac", "ed25519"):
        for label, svc in (("cached key", cached), ("SQLite lookup", uncached)):
            reqs = presigned(kind, f"{kind}{label[:3]}")
            it = iter(reqs)

            def verify(i: int, s: AuthService = svc, it: Any = it) -> None:
                s.authenticate(next(it), "POST", path, body)

            rows.append((f"full check {kind:7s} ({label}) + nonce", per_call_us(verify, n), base))
    k = keys["ed25519"].record
    issued = cached.sessions.create(k.key_id, k.scopes)
    rows.append(
        ("session bearer (cached)", per_call_us(lambda i: cached.authenticate_session(issued.token), n), base)
    )
    k2 = keys["ed25519"]
    pk = load_private_key(k2.credential)
    rows.append(
        (
            "client sign_request ed25519 (key object)",
            per_call_us(lambda i: sign_request(k2.record.key_id, pk, "GET", "/", b"", ts), n),
            base,
        )
    )
    rows.append(
        (
            "nonce store alone: SET NX PX",
            per_call_us(lambda i: nonce_client.set(f"{ns}x{i}", b"1", nx=True, px=60000), n),
            base,
        )
    )

    mem = InMemoryRateLimiter(1e5, 10**6, clock)
    rows.append(("GCRA in memory", per_call_us(lambda i: mem.check("k"), n), base))
    fake = RedisRateLimiter(fakeredis.FakeRedis(), 1e5, 10**6, clock, namespace=ns)
    rows.append(("GCRA Redis (fakeredis+lupa)", per_call_us(lambda i: fake.check("k"), n), base))
    if real is None:
        print("(nonce store: fakeredis; pass --redis-url for the real server)")
    else:
        red = RedisRateLimiter(real, 1e5, 10**6, clock, namespace=ns)
        rows.append(("GCRA Redis (real server, Lua)", per_call_us(lambda i: red.check("k"), n), base))

    by_name = {name: us for name, us, _ in rows}
    by_name[base] = baseline
    print(f"{'measurement':<48} {'µs/call':>9} {'ratio':>7}  to")
    for name, us, ref in rows:
        print(f"{name:<48} {us:>9.2f} {us / by_name[ref]:>7.2f}  {ref}")
    if real is not None:
        for key in real.scan_iter(match=f"{ns}*", count=1000):
            real.delete(key)
    db.close()


if __name__ == "__main__":
    main()
