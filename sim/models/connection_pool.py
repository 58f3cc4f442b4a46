"""Connection pool (seed diagram "Multi-Tier Connection Pool Management").

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

Two growth modes (``pool.growth``):

* ``"psycopg"`` -- psycopg_pool 3's own algorithm, for the real pool's configuration and counters
  (:mod:`sim.poolcal` reads both from a real ``psycopg_pool.ConnectionPool``): the burst finds
  ``min_size`` connections open (``Database`` opens its pool with ``wait=True``); a request with no
  idle connection queues and, if the pool may grow and is not already growing, starts one background
  opener that connects one connection at a time while clients wait (each new or returned connection
  goes to the first waiter, who wakes ``pool.handoff_cost`` s later); every connection handed out is
  checked (``check_connection``: one empty query, ``health.check_cost``); a waiter gives up after
  ``pool.timeout`` (``PoolTimeout``); every ``pool.max_idle`` s one connection idle the whole period
  above ``min_size`` is closed.  The run's
  ``attrs["pool"]`` holds psycopg_pool-style counters (``requests_num``, ``requests_queued``,
  ``requests_errors``, ``requests_wait_ms``, ``usage_ms``, ``connections_num``, ``connections_ms``).
* ``"requester"`` -- the diagram's path above: the requester opens a new connection itself and
  validates it once; idle connections are never closed.

In both, waiters are served first-come first-served and ``max_waiting`` (0 = unlimited) rejects
extra waiters at once; a failed health check drops the connection and the request tries again.
``load.pattern`` is ``"poisson"`` or ``"uniform"`` (evenly spaced arrivals: the burst the real run
replays); ``pool.calibration`` names a :mod:`sim.poolcal` calibration file (``"shipped"``: the
measured one in ``sim/models/defaults``) whose latency models join the book.
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
_COUNTERS = (
    "requests_num",
    "requests_queued",
    "requests_errors",
    "requests_wait_ms",
    "usage_ms",
    "connections_num",
    "connections_ms",
)


class _Pool:
    def __init__(self, ctx: SimContext, sc: Mapping[str, Any]) -> None:
        self.ctx, self.sc = ctx, sc
        self.available: deque[int] = deque()
        self.active: set[int] = set()
        self.waiters: deque[simpy.Event] = deque()
        self.size = 0  # open + opening connections
        self.created = 0
        self._next = 0
        self.growing = False
        self.idle_min = 0  # fewest idle connections since the last shrink (psycopg_pool's _nconns_min)
        self.counters = dict.fromkeys(_COUNTERS, 0.0)
        self.abandoned: set[simpy.Event] = set()  # clients that timed out while a connection was on its way

    def take_idle(self) -> int:
        """The oldest idle connection."""
        conn = self.available.popleft()
        self.idle_min = min(self.idle_min, len(self.available))
        return conn

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
        self.counters["connections_num"] += 1
        self.counters["connections_ms"] += int(cost * 1000.0)  # floored per event, as psycopg_pool does
        ctx.step(DB, "connect", frm="Connection_Pool", time=t0, request_id=rid, latency=cost, conn=conn)
        if self.sc["pool.growth"] == "psycopg":
            return conn  # psycopg_pool checks a connection when it hands it out, not when it opens it
        if not (yield from health_check(ctx, self.sc, rid, conn)):
            self.size -= 1
            return None
        return conn

    def release_new(self, conn: int) -> None:
        """A freshly opened connection: to the oldest waiter, else idle (psycopg_pool's ``_add_to_pool``)."""
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.triggered:
                if self.sc["pool.handoff_cost"] > 0:  # the waiting client wakes up a little later
                    self.ctx.env.process(self._deliver(waiter, conn))
                else:
                    waiter.succeed(conn)
                return
        self.available.append(conn)

    def _deliver(self, waiter: simpy.Event, conn: int) -> Generator[simpy.Event, Any, None]:
        """Wake the client ``conn`` was given to after ``pool.handoff_cost``; if it gave up meanwhile,
        the connection goes to the next waiter (psycopg_pool returns it to the pool)."""
        yield self.ctx.env.timeout(self.sc["pool.handoff_cost"])
        if waiter in self.abandoned:
            self.abandoned.discard(waiter)
            self.release_new(conn)
        else:
            waiter.succeed(conn)

    def release(self, conn: int, rid: str) -> None:
        """Return ``conn``: hand it to the oldest live waiter, else back to the idle queue."""
        ctx = self.ctx
        ctx.step("Connection_Pool", "return", frm="Pool_Manager", request_id=rid, conn=conn)
        self.active.discard(conn)
        ctx.step("Active_Set", "remove", frm="Connection_Pool", request_id=rid, conn=conn)
        ctx.step("Available_Queue", "put", frm="Connection_Pool", request_id=rid, conn=conn)
        self.release_new(conn)


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


def _acquire_psycopg(pool: _Pool, rid: str) -> Generator[simpy.Event, Any, int | None]:
    """psycopg_pool's ``getconn``: an idle connection, else queue (and grow), then check it."""
    ctx, env, sc = pool.ctx, pool.ctx.env, pool.sc
    ctx.step("Connection_Pool", "acquire", frm="Pool_Manager", request_id=rid)
    t_req = env.now
    while True:
        if pool.available:
            conn = pool.take_idle()
            ctx.step("Available_Queue", "get", frm="Connection_Pool", request_id=rid, conn=conn)
        else:
            if sc["pool.max_waiting"] and len(pool.waiters) >= sc["pool.max_waiting"]:
                pool.counters["requests_errors"] += 1
                ctx.step("Pool_Manager", "queue", "rejected", request_id=rid, waiting=len(pool.waiters))
                return None
            ctx.step("Pool_Manager", "queue", "wait", request_id=rid, waiting=len(pool.waiters))
            pool.counters["requests_queued"] += 1
            t0 = env.now
            waiter = env.event()
            pool.waiters.append(waiter)
            _maybe_grow(pool)
            yield waiter | env.timeout(max(0.0, t_req + sc["pool.timeout"] - env.now))
            pool.counters["requests_wait_ms"] += int((env.now - t0) * 1000.0)
            if not waiter.triggered:
                if waiter in pool.waiters:
                    pool.waiters.remove(waiter)
                else:  # a connection is on its way to this client: let it go to the next one
                    pool.abandoned.add(waiter)
                pool.counters["requests_errors"] += 1
                ctx.step(
                    "Pool_Manager", "timeout", "timeout", time=t_req, request_id=rid, latency=env.now - t_req
                )
                return None
            conn = cast(int, waiter.value)
            ctx.step("Available_Queue", "get", frm="Connection_Pool", request_id=rid, conn=conn)
        if not (yield from health_check(ctx, sc, rid, conn, db_checked=True)):
            pool.size -= 1  # the bad connection is closed; psycopg_pool opens a replacement
            _maybe_grow(pool, replace=True)
            if not ctx.faults.state(DB, env.now).up:
                return None
            continue
        pool.active.add(conn)
        ctx.step("Active_Set", "add", frm="Connection_Pool", request_id=rid, conn=conn)
        return conn


def health_check(ctx: SimContext, sc: Mapping[str, Any], rid: str | None, conn: int, *,
                 db_checked: bool = False) -> Generator[simpy.Event, Any, bool]:
    """Health_Monitor validates ``conn`` (``health.check_cost`` s): False when the seeded check fails or,
    with ``db_checked``, the database was down when the check began."""
    env = ctx.env
    t1 = env.now
    yield env.timeout(sc["health.check_cost"])
    ok = not (ctx.rng.random() < sc["health.fail_prob"] or (db_checked and not ctx.faults.state(DB, t1).up))
    ctx.step("Health_Monitor", "validate", "ok" if ok else "error", frm="Connection_Pool", time=t1,
             request_id=rid, latency=sc["health.check_cost"], conn=conn)
    return ok


def _maybe_grow(pool: _Pool, replace: bool = False) -> None:
    """psycopg_pool's ``_maybe_grow_pool``: one background opener at a time, up to ``max_size``."""
    if pool.growing or pool.size >= pool.sc["pool.max_size"]:
        return
    if replace and pool.size >= pool.sc["pool.min_size"] and not pool.waiters:
        return
    pool.size += 1
    pool.growing = True
    pool.ctx.step("Connection_Pool", "check_limits", "ok", size=pool.size)
    pool.ctx.env.process(_grower(pool))


def _grower(pool: _Pool) -> Generator[simpy.Event, Any, None]:
    """``AddConnection(growing=True)``: connect, give the connection to the first waiter, go on while
    clients wait and the pool may grow."""
    sc = pool.sc
    while True:
        pool.size -= 1  # connect() counts the connection it opens
        conn = yield from pool.connect(None)
        if conn is None:  # psycopg_pool retries with backoff; the model gives up this attempt
            pool.growing = False
            return
        pool.release_new(conn)
        if pool.size < sc["pool.min_size"] or (pool.size < sc["pool.max_size"] and pool.waiters):
            pool.size += 1
            continue
        pool.growing = False
        return


def _shrinker(pool: _Pool) -> Generator[simpy.Event, Any, None]:
    """``ShrinkPool`` every ``max_idle`` s: close one connection left idle the whole period."""
    env, sc = pool.ctx.env, pool.sc
    while True:
        yield env.timeout(sc["pool.max_idle"])
        idle_min, pool.idle_min = pool.idle_min, len(pool.available)
        if pool.size > sc["pool.min_size"] and idle_min > 0 and pool.available:
            conn = pool.available.popleft()
            pool.size -= 1
            pool.idle_min -= 1
            pool.ctx.step("Connection_Pool", "shrink", conn=conn, size=pool.size)


def _request(pool: _Pool, stats: dict[str, list[float]]) -> Generator[simpy.Event, Any, None]:
    ctx, env, sc = pool.ctx, pool.ctx.env, pool.sc
    rid, t0 = ctx.request_id(), env.now
    ctx.step("Pool_Manager", "request", frm="Application", request_id=rid)
    pool.counters["requests_num"] += 1
    psycopg = sc["pool.growth"] == "psycopg"
    conn = yield from (_acquire_psycopg(pool, rid) if psycopg else _acquire(pool, rid))
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
    ctx.step(
        DB,
        "query",
        "error" if failed else "ok",
        frm="Application",
        time=t1,
        request_id=rid,
        latency=q,
        conn=conn,
    )
    ctx.step("Pool_Manager", "release", frm="Application", request_id=rid, conn=conn)
    pool.counters["usage_ms"] += int((env.now - t1) * 1000.0)
    pool.release(conn, rid)


def _preopen(pool: _Pool) -> None:
    """psycopg mode: ``Database`` opens its pool with ``wait=True``, so the burst finds ``min_size``
    connections open (not in the counters: the real run pops the stats of the opening)."""
    ctx = pool.ctx
    for _ in range(pool.sc["pool.min_size"]):
        cost = ctx.cost(pool.sc["db.connect_key"], DB)
        conn = pool.new_id()
        pool.created += 1
        pool.size += 1
        ctx.step(DB, "connect", frm="Connection_Pool", latency=cost, conn=conn)
        pool.available.append(conn)
    pool.idle_min = len(pool.available)


def _opener(pool: _Pool) -> Generator[simpy.Event, Any, None]:
    for _ in range(pool.sc["pool.min_size"]):
        conn = yield from pool.connect(None)
        if conn is not None:
            pool.available.append(conn)


def _arrivals(pool: _Pool, stats: dict[str, list[float]]) -> Generator[simpy.Event, Any, None]:
    ctx, env, sc = pool.ctx, pool.ctx.env, pool.sc
    if sc["load.pattern"] == "uniform":  # evenly spaced, the first at t=0: the real burst's schedule
        for k in range(round(sc["duration"] * sc["load.rate"])):
            yield env.timeout(max(0.0, k / sc["load.rate"] - env.now))
            env.process(_request(pool, stats))
        return
    while True:
        yield env.timeout(ctx.rng.exponential(1.0 / sc["load.rate"]))
        if env.now >= sc["duration"]:
            return
        env.process(_request(pool, stats))


def run(scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Simulate ``duration`` seconds of Poisson requests through the pool; returns the event log."""
    sc = make_scenario(DEFAULTS, scenario)
    if not 0 <= sc["pool.min_size"] <= sc["pool.max_size"] or sc["pool.max_size"] < 1:
        raise ScenarioError(
            f"need 0 <= pool.min_size <= pool.max_size and max_size >= 1, got "
            f"{sc['pool.min_size']}, {sc['pool.max_size']}"
        )
    if sc["load.rate"] <= 0 or sc["pool.timeout"] < 0 or sc["pool.max_idle"] <= 0:
        raise ScenarioError("load.rate and pool.max_idle must be > 0 and pool.timeout >= 0")
    for key, allowed in (("pool.growth", ("psycopg", "requester")), ("load.pattern", ("poisson", "uniform"))):
        if sc[key] not in allowed:
            raise ScenarioError(f"scenario key {key!r} must be one of {allowed}, got {sc[key]!r}")
    ctx = SimContext(NAME, FLOW, sc)
    if sc["pool.calibration"]:  # a measured pool calibration's latency models join the book
        from sim.poolcal import calibration_book

        ctx.book.update(calibration_book(sc["pool.calibration"]))
    pool = _Pool(ctx, sc)
    stats: dict[str, list[float]] = {"waits": [], "failed": []}
    if sc["pool.growth"] == "psycopg":
        _preopen(pool)
        ctx.env.process(_shrinker(pool))
    else:
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
    if sc["pool.growth"] == "psycopg":  # psycopg_pool's get_stats() names (ms floored per event, as it does)
        df.attrs["pool"].update({k: int(v) for k, v in pool.counters.items()})
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
