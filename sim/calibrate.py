"""Calibration: measure the real tiers and save samples a :class:`~sim.latency.LatencyBook` loads.

Each measured step is timed ``n`` times (after ``warmup`` untimed calls) and
saved as empirical samples under a key such as ``"redis.get"``.  Calibration
measures *service time* — one call after the other on an idle connection —
which is what a latency model feeds a SimPy queue; queueing is the model's job.
(Measuring end-to-end latencies under load must be open-loop instead, or
coordinated omission hides the tail.)

Targets, each optional: redis-py GET/SET against ``redis_url`` (keys under
``key_prefix``, deleted afterwards) or an in-process fakeredis; psycopg
``SELECT`` by primary key against ``database_url`` in a temporary table;
sqlite3 ``SELECT`` in memory; an L1 dict lookup; and any callables passed in
``extra`` (``{"L2.get": lambda: tier.get("k")}``) — the hook for the real cache
tiers once they exist.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sim.latency import Empirical, LatencyBook

__all__ = ["calibrate", "measure"]

Timer = Callable[[], int]


def measure(fn: Callable[[], Any], n: int = 200, warmup: int = 10,
            timer: Timer = time.perf_counter_ns) -> np.ndarray:
    """Seconds taken by each of ``n`` calls of ``fn``."""
    if n < 1:
        raise ValueError(f"calibration needs n >= 1 samples, got {n}")
    for _ in range(warmup):
        fn()
    out = np.empty(n)
    for i in range(n):
        # perf_counter is allowed here: calibration measures the real world, it is not simulated time
        t0 = timer()
        fn()
        out[i] = (timer() - t0) * 1e-9
    return out


def _redis_steps(client: Any, kind: str, prefix: str, n: int, warmup: int) -> dict[str, np.ndarray]:
    key = f"{prefix}calibrate"
    value = b"x" * 256
    try:
        out = {f"{kind}.set": measure(lambda: client.set(key, value), n, warmup)}
        out[f"{kind}.get"] = measure(lambda: client.get(key), n, warmup)
    finally:
        client.delete(key)
    return out


def _postgres_steps(url: str, n: int, warmup: int) -> dict[str, np.ndarray]:
    import psycopg

    samples = []  # connect cost: a handful of samples is enough to set its scale
    for _ in range(min(5, n)):
        t0 = time.perf_counter_ns()
        conn = psycopg.connect(url, autocommit=True)
        samples.append((time.perf_counter_ns() - t0) * 1e-9)
        conn.close()
    table = f"supreme_calib_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TEMP TABLE {table} (k text PRIMARY KEY, v bytea)")
        conn.execute(f"INSERT INTO {table} VALUES ('k', %s)", (b"x" * 256,))
        sel = measure(lambda: conn.execute(f"SELECT v FROM {table} WHERE k = %s", ("k",)).fetchone(),
                      n, warmup)
    return {"postgresql.select": sel, "postgresql.connect": np.asarray(samples)}


def _sqlite_steps(path: str, n: int, warmup: int) -> dict[str, np.ndarray]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        conn.execute("CREATE TEMP TABLE calib (k TEXT PRIMARY KEY, v BLOB)")
        conn.execute("INSERT INTO calib VALUES ('k', ?)", (b"x" * 256,))
        return {"sqlite.select": measure(
            lambda: conn.execute("SELECT v FROM calib WHERE k = ?", ("k",)).fetchone(), n, warmup)}
    finally:
        conn.close()


def calibrate(
    out: str | Path | None = None,
    *,
    redis_url: str | None = None,
    redis_client: Any = None,
    fakeredis: bool = True,
    database_url: str | None = None,
    sqlite: bool = True,
    l1: bool = True,
    extra: Mapping[str, Callable[[], Any]] | None = None,
    n: int = 200,
    warmup: int = 10,
    key_prefix: str | None = None,
) -> LatencyBook:
    """Measure the chosen targets; save to ``out`` (``.json``/``.parquet``) if given; return the book."""
    prefix = key_prefix if key_prefix is not None else f"supreme:calib:{uuid.uuid4().hex[:8]}:"
    samples: dict[str, np.ndarray] = {}
    if l1:
        store = {f"k{i}": i for i in range(1000)}
        samples["L1.get"] = measure(lambda: store.get("k500"), n, warmup)
    if fakeredis:
        import fakeredis as fr

        samples.update(_redis_steps(fr.FakeRedis(server=fr.FakeServer()), "fakeredis", prefix, n, warmup))
    if redis_client is not None or redis_url:
        import redis

        client = redis_client if redis_client is not None else redis.Redis.from_url(
            redis_url or "", socket_connect_timeout=2, socket_timeout=2)
        try:
            samples.update(_redis_steps(client, "redis", prefix, n, warmup))
        finally:
            if redis_client is None:
                client.close()
    if database_url:
        if database_url.startswith("sqlite:///"):
            samples.update(_sqlite_steps(database_url[len("sqlite:///"):], n, warmup))
        else:
            samples.update(_postgres_steps(database_url, n, warmup))
    if sqlite and "sqlite.select" not in samples:
        samples.update(_sqlite_steps(":memory:", n, warmup))
    for key, fn in (extra or {}).items():
        samples[key] = measure(fn, n, warmup)
    book = LatencyBook({k: Empirical(v) for k, v in samples.items()})
    if out is not None:
        book.save(out)
    return book
