"""Cache hierarchy (seed diagram "Cache Hierarchy Access Pattern") through the real CacheManager.

The real :class:`~supreme.cache.manager.CacheManager`, the real L1
:class:`~supreme.cache.tiers.memory.MemoryTier` and eviction policy (``make_policy``), and the
real codec run on the simulated clock; L2/L3 and the external source are
:mod:`sim.tiers` doubles whose calls cost time from the LatencyBook (Redis a single-server
queue, the PostgreSQL pool a Resource of ``pool.max_size``).  The manager records the diagram's
steps itself::

    Cache_Manager.request (from Application)
    Memory_Cache_L1.get hit|miss
      Redis_Cache_L2.get hit|miss|error         (error while faults.redis is down: degraded)
        Memory_Cache_L1.promote
        PostgreSQL_L3.get hit|miss
          Redis_Cache_L2.promote, Memory_Cache_L1.promote
          External_Source.fetch -> PostgreSQL_L3.set -> Redis_Cache_L2.set|journaled -> Memory_Cache_L1.set
    Cache_Manager.get hit|miss (tier = who answered)
    Application.response  (end-to-end latency, queueing included)

Arrivals are open-loop (Poisson at ``workload.rate``); keys come from
:mod:`supreme.adaptive.workloads` seeded by ``workload.seed``, so :mod:`sim.realrun` can replay the
same sequence against real Redis/PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

import pandas as pd
import simpy

from sim.latency import LatencyError
from sim.models._context import SimContext
from sim.scenario import load_defaults, make_scenario
from sim.tiers import SimIO, SimMemoryTier, SimRemoteTier, charged
from sim.workload import arrivals, keys_for, payload

__all__ = [
    "DEFAULTS", "FLOW", "NAME", "build_manager", "lookups", "make_io", "run", "summarize", "tier_sequence",
]

NAME = "cache_hierarchy"
FLOW = "cache_hierarchy"

DEFAULTS: dict[str, Any] = load_defaults(NAME)

TIER_COMPONENTS = ("Memory_Cache_L1", "Redis_Cache_L2", "PostgreSQL_L3")


def build_manager(
    ctx: SimContext, io: SimIO, sc: Mapping[str, Any], *, flow: str = FLOW, adaptive: Any = None
) -> Any:
    """The real CacheManager over the real L1 and simulated L2/L3/source, on ``io.clock``."""
    from supreme.cache.manager import CacheManager
    from supreme.cache.policies import make_policy

    l1 = SimMemoryTier(
        io, make_policy(str(sc["cache.l1.policy"]), int(sc["cache.l1.capacity"])), clock=io.clock
    )
    l2 = SimRemoteTier(io, name="L2", backend=str(sc["l2.backend"]))
    l3 = SimRemoteTier(io, name="L3", backend=str(sc["l3.backend"]))
    nbytes = int(sc["value.bytes"])
    def fetch(key: str) -> bytes:
        io.source_calls += 1  # tells the request a source fetch happened (its CPU class)
        return payload(key, nbytes)

    source = charged(io, fetch, "source.fetch", str(sc["source.key"]))
    ttl = float(sc["cache.ttl"])
    return CacheManager(
        l1,
        l2,
        l3,
        clock=io.clock,
        event_log=ctx.log,
        source=source,
        default_ttl=ttl if ttl > 0 else None,
        flow=flow,
        adaptive=adaptive,
    )


def make_io(ctx: SimContext, sc: Mapping[str, Any], flow: str = FLOW) -> SimIO:
    """The run's SimIO (costs, Redis queue, PostgreSQL pool, cores) on the context's env, book and faults."""
    io = SimIO(
        ctx.env,
        ctx.book,
        ctx.rng,
        faults=ctx.faults,
        redis_servers=int(sc["redis.servers"]),
        pool_max_size=int(sc["pool.max_size"]),
        event_log=ctx.log,
        flow=flow,
        cpu_workers=int(sc.get("cpu.workers", 1)),
    )
    if sc.get("cpu.in_process_io"):
        io.in_process_resource = "cpu"
    return io


def _request(
    ctx: SimContext, io: SimIO, manager: Any, key: str, ops: tuple[str, str], survive: bool
) -> Generator[simpy.Event, Any, None]:
    env = ctx.env
    rid = ctx.log.next_request_id()
    t0 = env.now
    cpu = io.resources["cpu"]
    if "wake.lag" in io.book and cpu.count == 0 and not cpu.queue:  # an idle worker wakes up late
        yield env.timeout(io.draw("wake.lag"))
    ctx.step("Cache_Manager", ops[0], frm="Application", request_id=rid, key=key)
    io.begin()
    outcome = "ok"
    try:
        before = io.source_calls
        manager.get(key, request_id=rid)
        charge_cpu(io, manager, io.source_calls != before)
    except LatencyError:  # the book lacks a cost: a broken scenario, not a fault of the system modelled
        raise
    except Exception as exc:  # the source failed too: the application gets an error, the run goes on
        if not survive:
            raise
        outcome = "error"
        ctx.step("Application", "error", "error", request_id=rid, key=key, error=type(exc).__name__)
    yield from io.settle(request_id=rid)
    ctx.step("Application", ops[1], outcome, request_id=rid, key=key, latency=env.now - t0)


def charge_cpu(io: SimIO, manager: Any, fetched: bool) -> None:
    """The real code's CPU for the lookup just made (``cpu.cache.hit``, or ``cpu.cache.miss`` when the
    source was fetched), when the book measured it (sim.book); charged on the simulated cores."""
    key = "cpu.cache.miss" if fetched else "cpu.cache.hit"
    if key in io.book:
        io.charge("cpu", io.draw(key))


def lookups(
    ctx: SimContext, io: SimIO, manager: Any, keys: list[str], rate: float,
    ops: tuple[str, str] = ("request", "response"), survive: bool = True,
) -> Generator[simpy.Event, Any, None]:
    """Poisson lookups of ``keys``, each timed from row ``ops[0]`` to row ``ops[1]``."""
    # survive: a lookup whose source fails too is an error row; learning_cycle lets it end the run
    env = ctx.env
    times = arrivals(len(keys), rate, ctx.rng)
    for key, t in zip(keys, times, strict=True):
        if t > env.now:
            yield env.timeout(t - env.now)
        env.process(_request(ctx, io, manager, key, ops, survive))


def run(scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Simulate the workload through the real manager; returns the event log."""
    sc = make_scenario(DEFAULTS, scenario)
    ctx = SimContext(NAME, FLOW, sc)
    io = make_io(ctx, sc)
    manager = build_manager(ctx, io, sc)
    keys = keys_for(str(sc["workload.name"]), int(sc["workload.n"]), int(sc["workload.seed"]))
    ctx.env.process(lookups(ctx, io, manager, keys, float(sc["workload.rate"])))
    ctx.env.run()
    df = ctx.frame()
    df.attrs["stats"] = manager.stats().reset_index().to_dict("records")
    return df


def tier_sequence(log: pd.DataFrame) -> list[tuple[str, str]]:
    """``(component, outcome)`` of every tier lookup, in log order (the hit/miss sequence per tier)."""
    rows = log[log["component"].isin(TIER_COMPONENTS) & (log["operation"] == "get")]
    return list(zip(rows["component"], rows["outcome"], strict=True))


def summarize(log: pd.DataFrame) -> dict[str, Any]:
    """Hit ratio per tier, response-latency percentiles, errors."""
    out: dict[str, Any] = {}
    for comp, tier in zip(TIER_COMPONENTS, ("l1", "l2", "l3"), strict=True):
        rows = log[(log["component"] == comp) & (log["operation"] == "get")]
        hits = int((rows["outcome"] == "hit").sum())
        looked = int(rows["outcome"].isin(["hit", "miss"]).sum())
        out[f"{tier}_hit_ratio"] = hits / looked if looked else float("nan")
        out[f"{tier}_errors"] = int((rows["outcome"] == "error").sum())
    resp = log[(log["component"] == "Application") & (log["operation"] == "response")]["latency"]
    out["requests"] = len(resp)
    for p in (50, 95, 99):
        out[f"p{p}"] = float(resp.quantile(p / 100)) if len(resp) else float("nan")
    out["source_fetches"] = int(((log["component"] == "External_Source") & (log["outcome"] == "ok")).sum())
    out["queue_waits"] = int((log["operation"] == "queue").sum())
    return out
