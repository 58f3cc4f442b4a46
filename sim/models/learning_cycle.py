"""Neuromorphic Learning Cycle (seed diagram) with the real adaptive layer on simulated time.

The real :class:`~supreme.adaptive.layer.AdaptiveLayer` (with the real
:class:`~supreme.adaptive.synapses.SynapticNetwork`, :class:`~supreme.adaptive.analyzer.PatternAnalyzer`,
:class:`~supreme.adaptive.adapter.CacheAdapter` and, if enabled,
:class:`~supreme.adaptive.prefetch.PrefetchEngine`)
observes the real :class:`~supreme.cache.manager.CacheManager` of :mod:`sim.models.cache_hierarchy`.
Every demand access records its pattern (``Synaptic_Network.Record access pattern``); a SimPy
process calls ``layer.maybe_run(now)`` every ``cycle.seconds`` of simulated time, so the cycle
(``Synaptic_Network``/``Pattern_Analyzer.Analyze recent patterns`` → ``Cache_Adapter`` adaptations →
``Cache_Adapter.Apply adaptations`` → ``Cache_Manager.Adaptations applied``) fires at t = 60, 120, …

Prefetches (``prefetch.enabled``) cost a source fetch plus the tier writes, charged to a background
SimPy process (:meth:`sim.tiers.SimIO.detached`), not to the demand request that triggered them;
the engine's ``latency`` hook gets the same drawn fetch time, so a demand arriving before the
prefetch completes counts as *late*.

The CacheManager is the adapter's ``AdaptationTarget``: policy switches (residents migrated into
the new policy), the demand/prefetch budget split of L1 and the prefetch threshold are applied for
real, each switch or split also recorded as ``Cache_Manager.apply_adaptation`` with the L1 shape
before and after.  L1 starts on ``cache.l1.policy`` and the adapter, as for any adaptable cache,
switches it to its start policy (S3-FIFO) at t = 0 and, with prefetching on, reserves 1/8 of L1
for prefetched entries (the adapter takes policy and capacity from the manager).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

import pandas as pd
import simpy

from sim.models import cache_hierarchy as ch
from sim.models._context import SimContext
from sim.scenario import load_defaults, make_scenario
from sim.tiers import SimIO
from sim.workload import keys_for, payload

__all__ = ["DEFAULTS", "FLOW", "NAME", "PrefetchTarget", "run", "run_adaptive", "summarize"]

NAME = "learning_cycle"
FLOW = "learning_cycle"

DEFAULTS: dict[str, Any] = {
    **{k: v for k, v in ch.DEFAULTS.items() if k != "workload.n"},  # runs for ``duration`` instead
    **load_defaults(NAME),
}


class PrefetchTarget:
    """The manager as the engine's PrefetchTarget; peeks and stores charged to a background ledger."""

    def __init__(self, io: SimIO, manager: Any) -> None:
        self.io, self.manager = io, manager
        self.fetch_cost: dict[str, float] = {}

    def latency(self, key: str) -> float:
        """Draw the source fetch time of a prefetch (the engine's ``latency`` hook)."""
        cost = self.io.draw("source.fetch", "exchange.fetch", component="source")
        self.fetch_cost[key] = cost
        return cost

    def contains(self, key: str) -> bool:
        """Peek every tier (background I/O)."""
        with self.io.detached():
            return bool(self.manager.contains(key))

    def set(self, key: str, value: Any, ttl: float | None = None, low_priority: bool = True) -> None:
        """Pay the fetch, then store in L3, L2, L1 (low priority), in the background."""
        with self.io.detached():
            self.io.charge(None, self.fetch_cost.pop(key, 0.0))
            self.manager.set(key, value, ttl, low_priority, flow="prefetch")


def _cycle(ctx: SimContext, io: SimIO, layer: Any, period: float) -> Generator[simpy.Event, Any, None]:
    layer.maybe_run(ctx.env.now)  # puts the first cycle at t = period
    while True:
        yield ctx.env.timeout(period)
        io.begin()
        layer.maybe_run(ctx.env.now)
        yield from io.settle()


def run_adaptive(name: str, flow: str, sc: Mapping[str, Any]) -> pd.DataFrame:
    """Build and run the adaptive cache for a validated scenario (shared with :mod:`sim.models.prefetch`)."""
    from supreme.adaptive import AdaptiveLayer, CacheAdapter, PatternAnalyzer, PrefetchEngine, SynapticNetwork

    ctx = SimContext(name, flow, sc)
    io = ch.make_io(ctx, sc, flow)
    network = SynapticNetwork(event_log=ctx.log)
    layer = AdaptiveLayer(
        network,
        analyzer=PatternAnalyzer(event_log=ctx.log),
        clock=io.clock,
        cycle_seconds=float(sc["cycle.seconds"]),
        event_log=ctx.log,
    )
    manager = ch.build_manager(ctx, io, sc, flow=flow, adaptive=layer)
    engine = None
    if sc["prefetch.enabled"]:
        target = PrefetchTarget(io, manager)
        nbytes = int(sc["value.bytes"])
        engine = PrefetchEngine(
            network,
            target,
            lambda key: payload(key, nbytes),
            threshold=float(sc["prefetch.threshold"]),
            fanout=int(sc["prefetch.fanout"]),
            latency=target.latency,
            event_log=ctx.log,
        )
        layer.prefetcher = engine
    layer.adapter = CacheAdapter(
        manager,
        engine,
        capacity=int(sc["cache.l1.capacity"]),
        current_policy=str(sc["cache.l1.policy"]),
        event_log=ctx.log,
    )
    duration = float(sc["duration"])
    n = max(1, int(duration * float(sc["workload.rate"])))
    keys = keys_for(str(sc["workload.name"]), n, int(sc["workload.seed"]))
    demand = ("Data access request", "Optimized response")
    ctx.env.process(ch.lookups(ctx, io, manager, keys, float(sc["workload.rate"]), demand, survive=False))
    ctx.env.process(_cycle(ctx, io, layer, float(sc["cycle.seconds"])))
    ctx.env.run(until=duration + 1e-9)
    df = ctx.frame()
    df.attrs["cycles"] = layer.cycles
    df.attrs["prefetch"] = engine.stats.as_dict() if engine is not None else {}
    return df


def run(scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Simulate the workload with the learning layer attached; returns the event log."""
    return run_adaptive(NAME, FLOW, make_scenario(DEFAULTS, scenario))


def cycle_times(log: pd.DataFrame) -> list[float]:
    """Times at which the learning cycle ran (one per ``Synaptic_Network`` analysis)."""
    rows = log[(log["component"] == "Synaptic_Network") & (log["operation"] == "Analyze recent patterns")]
    return [float(t) for t in rows["time"]]


def summarize(log: pd.DataFrame) -> dict[str, Any]:
    """Cycles, adaptations, L1 hit ratio, prefetch figures."""
    l1 = log[(log["component"] == "Memory_Cache_L1") & (log["operation"] == "get")]
    looked = int(l1["outcome"].isin(["hit", "miss"]).sum())
    out: dict[str, Any] = {
        "cycles": int(log.attrs.get("cycles", len(cycle_times(log)))),
        "adaptations": int(
            ((log["component"] == "Cache_Adapter") & ~log["operation"].isin(["Apply adaptations"])).sum()
        ),
        "l1_hit_ratio": float((l1["outcome"] == "hit").sum() / looked) if looked else float("nan"),
    }
    for k in ("issued", "accuracy", "coverage", "timeliness", "wasted"):
        if k in log.attrs.get("prefetch", {}):
            out[f"prefetch_{k}"] = log.attrs["prefetch"][k]
    return out
