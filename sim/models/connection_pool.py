"""Connection pool (seed diagram "Multi-Tier Connection Pool Management"), psycopg_pool-like.

Per request::

    Pool_Manager.request -> Connection_Pool.acquire
      idle connection:  Available_Queue.get -> Active_Set.add
      else below max:   Connection_Pool.check_limits(ok) -> Database.connect
                        -> Health_Monitor.validate -> Active_Set.add
      else at max:      Connection_Pool.check_limits(full) -> Pool_Manager.queue, then either
                        Available_Queue.get -> Active_Set.add   (a released connection, FIFO)
                        or Pool_Manager.timeout after pool.timeout s (psycopg_pool's PoolTimeout)
    Pool_Manager.ready -> Database.query -> Pool_Manager.release -> Connection_Pool.return
      -> Active_Set.remove -> Available_Queue.put

As psycopg_pool: ``min_size`` connections are opened at start, the pool grows
to ``max_size``, waiters are served first-come first-served, ``max_waiting``
(0 = unlimited) rejects extra waiters at once.  Departures: a new connection
is opened by the requester itself (psycopg_pool opens it in a background
worker and hands the client the first connection to become free); idle
connections are never closed (no ``max_idle``); a failed health check drops
the connection and the request tries again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator, Mapping
from typing import Any, cast

import numpy as np
import pandas as pd
import simpy

from sim.models._context import SimContext, count_steps
from sim.scenario import ScenarioError, load_defaults, make_scenario

__all__ = ["DEFAULTS", "FLOW", "NAME", "run", "summarize"]

NAME = "connection_pool"
FLOW = "connection_pool"

DEFAULTS: dict[str, Any] = load_defaults(NAME)

DB = "Database"


class _Pool:
    def __init__(self, ctx: SimContext, sc: Mapping[str, Any]) -> None:
        self.ctx, self.sc = ctx, sc
        self.available: deque[int] = deque()
        self.active: set[int] = set()
        self.waiters: deque[simpy.Event] = deque()
        self.size = 0          # open + opening connections
        self.created = 0
        self._next = 0

    def new_id(self) -> int:
        self._next += 1
        return self._next

    def connect(self, rid: str | None) -> Generator[simpy.Event, Any, int | None]:
        """Open and validate one connection; ``None`` if the database refused or it failed the check."""
        ctx, env = self.ctx, self.ctx.env
        self.size += 1
        t0 = env.now
        cost = ctx.cost(self.sc["db.connect_key"], DB)
        yield env.timeout(cost)
        if ctx.faults.fails(DB, t0, ctx.rng):
            self.size -= 1
            ctx.step(DB, "connect", "error", frm="Connection_Pool", time=t0, request_id=rid, latency=cost)
            return None
        conn = self.new_id()
        self.created += 1
        ctx.step(DB, "connect", frm="Connection_Pool", time=t0, request_id=rid, latency=cost, conn=conn)
        t1 = env.now
        yield env.timeout(self.sc["health.check_cost"])
        if ctx.rng.random() < self.sc["health.fail_prob"]:
            self.size -= 1
            ctx.step("Health_Monitor", "validate", "error", frm="Connection_Pool", time=t1, request_id=rid,
                     latency=self.sc["health.check_cost"], conn=conn)
            return None
        ctx.step("Health_Monitor", "validate", frm="Connection_Pool", time=t1, request_id=rid,
                 latency=self.sc["health.check_cost"], conn=conn)
        return conn

    def release(self, conn: int, rid: str) -> None:
        """Return ``conn``: hand it to the oldest live waiter, else back to the idle queue."""
        ctx = self.ctx
        ctx.step("Connection_Pool", "return", frm="Pool_Manager", request_id=rid, conn=conn)
        self.active.discard(conn)
        ctx.step("Active_Set", "remove", frm="Connection_Pool", request_id=rid, conn=conn)
        ctx.step("Available_Queue", "put", frm="Connection_Pool", request_id=rid, conn=conn)
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.triggered:
                waiter.succeed(conn)
                return
        self.available.append(conn)


def _acquire(pool: _Pool, rid: str) -> Generator[simpy.Event, Any, int | None]:
    ctx, env, sc = pool.ctx, pool.ctx.env, pool.sc
    ctx.step("Connection_Pool", "acquire", frm="Pool_Manager", request_id=rid)
    while True:
        if pool.available:
            conn = pool.available.popleft()
            ctx.step("Available_Queue", "get", frm="Connection_Pool", request_id=rid, conn=conn)
            break
        if pool.size < sc["pool.max_size"]:
            ctx.step("Connection_Pool", "check_limits", "ok", request_id=rid, size=pool.size)
            new: int | None = yield from pool.connect(rid)
            if new is None:
                if not ctx.faults.state(DB, env.now).up:
                    return None
                continue
            conn = new
            break
        ctx.step("Connection_Pool", "check_limits", "full", request_id=rid, size=pool.size)
        if sc["pool.max_waiting"] and len(pool.waiters) >= sc["pool.max_waiting"]:
            ctx.step("Pool_Manager", "queue", "rejected", request_id=rid, waiting=len(pool.waiters))
            return None
        ctx.step("Pool_Manager", "queue", "wait", request_id=rid, waiting=len(pool.waiters))
        t0 = env.now
        waiter = env.event()
        pool.waiters.append(waiter)
        timeout = env.timeout(sc["pool.timeout"])
        yield waiter | timeout
        if not waiter.triggered:
            pool.waiters.remove(waiter)
            ctx.step("Pool_Manager", "timeout", "timeout", time=t0, request_id=rid, latency=env.now - t0)
            return None
        conn = cast(int, waiter.value)
        ctx.step("Available_Queue", "get", frm="Connection_Pool", request_id=rid, conn=conn)
        break
    pool.active.add(conn)
    ctx.step("Active_Set", "add", frm="Connection_Pool", request_id=rid, conn=conn)
    return conn


def _request(pool: _Pool, stats: dict[str, list[float]]) -> Generator[simpy.Event, Any, None]:
    ctx, env, sc = pool.ctx, pool.ctx.env, pool.sc
    rid, t0 = ctx.request_id(), env.now
    ctx.step("Pool_Manager", "request", frm="Application", request_id=rid)
    conn = yield from _acquire(pool, rid)
    waited = env.now - t0
    if conn is None:
        stats["failed"].append(waited)
        return
    stats["waits"].append(waited)
    ctx.step("Pool_Manager", "ready", time=t0, request_id=rid, latency=waited, conn=conn)
    t1 = env.now
    q = ctx.cost(sc["query.key"], DB) * sc["query.scale"]
    yield env.timeout(q)
    failed = ctx.faults.fails(DB, t1, ctx.rng)
    ctx.step(DB, "query", "error" if failed else "ok", frm="Application", time=t1, request_id=rid,
             latency=q, conn=conn)
    ctx.step("Pool_Manager", "release", frm="Application", request_id=rid, conn=conn)
    pool.release(conn, rid)


def _opener(pool: _Pool) -> Generator[simpy.Event, Any, None]:
    for _ in range(pool.sc["pool.min_size"]):
        conn = yield from pool.connect(None)
        if conn is not None:
            pool.available.append(conn)


def _arrivals(pool: _Pool, stats: dict[str, list[float]]) -> Generator[simpy.Event, Any, None]:
    ctx, env, sc = pool.ctx, pool.ctx.env, pool.sc
    while True:
        yield env.timeout(ctx.rng.exponential(1.0 / sc["load.rate"]))
        if env.now >= sc["duration"]:
            return
        env.process(_request(pool, stats))


def run(scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Simulate ``duration`` seconds of Poisson requests through the pool; returns the event log."""
    sc = make_scenario(DEFAULTS, scenario)
    if not 0 <= sc["pool.min_size"] <= sc["pool.max_size"] or sc["pool.max_size"] < 1:
        raise ScenarioError(f"need 0 <= pool.min_size <= pool.max_size and max_size >= 1, got "
                            f"{sc['pool.min_size']}, {sc['pool.max_size']}")
    if sc["load.rate"] <= 0 or sc["pool.timeout"] < 0:
        raise ScenarioError("load.rate must be > 0 and pool.timeout >= 0")
    ctx = SimContext(NAME, FLOW, sc)
    pool = _Pool(ctx, sc)
    stats: dict[str, list[float]] = {"waits": [], "failed": []}
    ctx.env.process(_opener(pool))
    ctx.env.process(_arrivals(pool, stats))
    ctx.env.run(until=sc["duration"] + sc["pool.timeout"] + 5.0)  # let every request finish or time out
    df = ctx.frame()
    waits = np.asarray(stats["waits"])
    df.attrs["pool"] = {
        "served": int(waits.size),
        "failed": len(stats["failed"]),
        "created": pool.created,
        "wait_p50": float(np.percentile(waits, 50)) if waits.size else 0.0,
        "wait_p99": float(np.percentile(waits, 99)) if waits.size else 0.0,
    }
    return df


def summarize(log: pd.DataFrame) -> dict[str, Any]:
    """Requests, timeouts, rejections, connections opened and wait percentiles."""
    pm = log[log["component"] == "Pool_Manager"]
    requests = int((pm["operation"] == "request").sum())
    timeouts = int((pm["operation"] == "timeout").sum())
    ready = pm[pm["operation"] == "ready"]["latency"].to_numpy()
    return {
        "requests": requests,
        "served": int(ready.size),
        "timeouts": timeouts,
        "rejected": int(((pm["operation"] == "queue") & (pm["outcome"] == "rejected")).sum()),
        "timeout_rate": timeouts / requests if requests else 0.0,
        "queued": int(((pm["operation"] == "queue") & (pm["outcome"] == "wait")).sum()),
        "connections": count_steps(log, DB, "connect", "ok"),
        "wait_p50": float(np.percentile(ready, 50)) if ready.size else 0.0,
        "wait_p99": float(np.percentile(ready, 99)) if ready.size else 0.0,
    }
