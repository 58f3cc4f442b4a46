"""Trace simulation of the adaptive layer: the same objects the manager uses, driven by a key stream.

:class:`SimCache` is a key-only single-tier cache with a total ``budget`` split in two areas, the
live L1's layout (:class:`~supreme.cache.tiers.areas.TwoAreaStore`, which both are built on):

* the demand area — an eviction policy from the registry of size ``budget - P``;
* the prefetch area — a FIFO of at most ``P`` prefetched entries not yet used.  A demand hit on one
  moves it into the demand area (as a normal insert).  When ``P`` is 0 a prefetch enters the demand
  policy with ``low_priority=True`` instead.

Both areas count against the budget, so prefetching is never given extra room.  Accounting in the
result of :func:`simulate_adaptive`:

* ``demand_misses`` — requests not served from the cache (a request that finds its prefetch still
  in flight waits for it: a miss, but it joins that fetch, so no second source fetch);
* ``prefetch_fetches`` — source fetches issued by the prefetch engine;
* ``source_fetches = demand fetches + prefetch_fetches`` — what the data source actually served;
* ``miss_ratio = demand_misses / requests`` and ``fetch_ratio = source_fetches / requests``.

With ``adaptive=False`` and ``prefetch=False`` no layer is attached and the result is exactly that of
the static policy (tested).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

from supreme.adaptive import _policies
from supreme.adaptive.adapter import AdapterSettings, CacheAdapter
from supreme.adaptive.layer import AdaptiveLayer
from supreme.adaptive.prefetch import PrefetchEngine
from supreme.adaptive.stride import StridePredictor
from supreme.adaptive.synapses import AdaptiveConfigError, SynapticNetwork
from supreme.adaptive.workloads import Workload, trace_keys
from supreme.cache.protocols import SwitchResult
from supreme.cache.tiers.areas import TwoAreaStore
from supreme.events import NULL_LOG, EventLog

__all__ = ["SimCache", "simulate_adaptive"]

#: a policy switch replays the last ``WARM_FILLS`` cache fills of demand keys (at most ``WARM_MAX``)
#: into the new policy, so it starts with the frequencies and scores that tail earns
WARM_FILLS = 40
WARM_MAX = 1 << 15
#: the prefetch area's share of the budget when no adapter sizes it (prefetching on a static policy)
STATIC_PREFETCH_FRAC = 1 / 8


class SimCache(TwoAreaStore):
    """Key-only cache: a demand policy plus a FIFO prefetch area inside one budget."""

    def __init__(self, budget: int, policy: str = "lru", prefetch_budget: int = 0,
                 track_recency: bool = False, warm_switch: int | None = None) -> None:
        if budget < 1:
            raise AdaptiveConfigError(f"cache budget must be >= 1, got {budget}")
        if not 0 <= prefetch_budget < budget:
            raise AdaptiveConfigError(f"prefetch budget must be in [0, {budget}), got {prefetch_budget}")
        super().__init__(_policies.make(policy, int(budget) - int(prefetch_budget)), int(prefetch_budget))
        self._policy_name = policy
        self.on_evict: Callable[[list[Any]], None] | None = None
        self._recency: OrderedDict[Hashable, None] | None = OrderedDict() if track_recency else None
        # the last demand keys a switch replays into the new policy (0: cold switches)
        tail = min(WARM_FILLS * int(budget), WARM_MAX) if warm_switch is None else int(warm_switch)
        self._tail: deque[Hashable] | None = deque(maxlen=tail) if track_recency and tail > 0 else None

    # -- AdaptationTarget -----------------------------------------------------------
    @property
    def policy_name(self) -> str:
        """Name of the demand policy, as asked for."""
        return self._policy_name

    def switch_policy(self, name: str, track: Sequence[str] = ()) -> SwitchResult:
        """Migrate residents into a fresh ``name`` policy, most recent last; abort if one would be lost."""
        old = self.policy
        order = [k for k in self._recency if k in old] if self._recency is not None else list(old.keys())
        if self._tail:
            migrated, lost, forced = self._migrate_warm(lambda: _policies.make(name, old.capacity, track),
                                                        order, self._tail)
        else:
            migrated, lost, forced = self._migrate(_policies.make(name, old.capacity, track), order)
        if lost:
            return SwitchResult(False, migrated, lost)
        self._policy_name = name
        self._evicted(forced)
        return SwitchResult(True, migrated, 0)

    def retune_policy(self, name: str) -> bool:
        """Make the demand policy ``name`` in place when it tracks that spec (no migration, no loss)."""
        if not self.policy.retune(name):
            return False
        self._policy_name = name
        return True

    def set_prefetch_budget(self, entries: int) -> None:
        """Move the split: the demand area shrinks or grows by the difference."""
        demand, prefetched = self._split(self.budget, self._prefetch_share(entries))
        self._evicted(demand + prefetched)

    # -- PrefetchTarget -------------------------------------------------------------
    def contains(self, key: str) -> bool:
        """Peek."""
        return key in self.policy or key in self.prefetched

    def set(self, key: str, value: Any, ttl: float | None = None, low_priority: bool = True) -> None:
        """Store a prefetched key in the prefetch area (or low-priority in the demand policy)."""
        if key in self.prefetched or key in self.policy:
            return
        if self.prefetch_capacity > 0:
            self._evicted(self._add_prefetched(key, 1, None))
        else:
            self._evicted(self.policy.insert(key, 1, low_priority))

    # -- demand path ---------------------------------------------------------------
    def access(self, key: Hashable) -> bool:
        """A demand request: hit (demand area or prefetch area) or miss; a miss is admitted."""
        if self._recency is not None:
            self._recency[key] = None
            self._recency.move_to_end(key)
            if self._tail is not None:
                self._tail.append(key)
        if self.policy.lookup(key):
            return True
        hit = self._take_prefetched(key) is not None
        self._admit(key)
        return hit

    def _admit(self, key: Hashable) -> None:
        evicted = self.policy.insert(key)
        if self._recency is not None:
            for k in evicted:
                self._recency.pop(k, None)
        self._evicted(evicted)

    def _evicted(self, keys: list[Any]) -> None:
        if keys and self.on_evict is not None:
            self.on_evict(keys)

    def __len__(self) -> int:
        return len(self.policy) + len(self.prefetched)


def _keys_of(keys_or_trace: Any) -> list[str]:
    if isinstance(keys_or_trace, Workload):
        return list(keys_or_trace.keys)
    if isinstance(keys_or_trace, list) and (not keys_or_trace or isinstance(keys_or_trace[0], str)):
        return keys_or_trace
    if isinstance(keys_or_trace, Sequence) and not isinstance(keys_or_trace, (str, bytes)) and \
            all(isinstance(k, str) for k in keys_or_trace):
        return list(keys_or_trace)
    return trace_keys(keys_or_trace)


def _request_times(keys_or_trace: Any, n: int, times: Sequence[float] | np.ndarray | None,
                   rate: float) -> np.ndarray:
    """Request times in seconds: ``times``, a workload's own, else ``i / rate``."""
    if times is None and isinstance(keys_or_trace, Workload):
        times = keys_or_trace.times
    if times is None:
        return np.arange(n, dtype=float) / rate
    t = np.asarray(times, dtype=float)
    if len(t) != n:
        raise AdaptiveConfigError(f"times has {len(t)} entries for {n} keys")
    if n and np.any(np.diff(t) < 0):
        raise AdaptiveConfigError("times must be non-decreasing")
    return t


def _attach_layer(cache: SimCache, capacity: int, s: AdapterSettings, net: SynapticNetwork, *,
                  adaptive: bool, prefetch: bool, threshold: float, fanout: int,
                  latency: Callable[[str], float] | None, stride: bool, cycle_seconds: float,
                  start: float, event_log: EventLog) -> tuple[AdaptiveLayer, PrefetchEngine | None]:
    """The adaptive layer (adapter and/or prefetch engine) wired to ``cache``, as the manager wires it."""
    # the adapter starts its area small and moves it; without it the area never moves
    frac = s.budget_init_frac if adaptive and s.adapt_budget else STATIC_PREFETCH_FRAC
    init_p = max(1, round(capacity * frac)) if prefetch and capacity > 1 else 0
    engine: PrefetchEngine | None = None
    if prefetch:
        engine = PrefetchEngine(net, cache, lambda k: 1, threshold=threshold, fanout=fanout,
                                latency=latency, size_of=lambda v: 1, event_log=event_log,
                                stride=StridePredictor() if stride else None)
        cache.on_evict = engine.note_evicted
    adapter = CacheAdapter(cache, engine, settings=s, event_log=event_log, now=start) if adaptive else None
    if engine is not None and (adapter is None or adapter.prefetch_budget == 0):
        cache.set_prefetch_budget(init_p)
    layer = AdaptiveLayer(net, adapter=adapter, prefetcher=engine, cycle_seconds=cycle_seconds,
                          event_log=event_log)
    return layer, engine


def _drive(keys: list[str], tl: list[float], cache: SimCache, layer: AdaptiveLayer | None,
           engine: PrefetchEngine | None, latency: Callable[[str], float] | None,
           timer: Callable[[], float] | None) -> tuple[int, int, float]:
    """Replay the requests; return (demand misses, late prefetches among them, seconds in the layer)."""
    demand_misses = 0
    late = 0
    layer_seconds = 0.0
    access = cache.access
    if layer is None:
        for key in keys:
            if not access(key):
                demand_misses += 1
        return demand_misses, late, layer_seconds
    on_access = layer.on_access
    pending = engine.pending if latency is not None and engine is not None else None
    for i, key in enumerate(keys):
        now = tl[i]
        hit = access(key)
        if hit and pending is not None and pending(key, now):
            hit = False  # the prefetch is in flight: the request waits for it (no new fetch)
            late += 1
        if not hit:
            demand_misses += 1
        if timer is None:
            on_access(key, hit, "L1" if hit else None, now)
        else:
            t0 = timer()
            on_access(key, hit, "L1" if hit else None, now)
            layer_seconds += timer() - t0
    return demand_misses, late, layer_seconds


def _layer_figures(layer: AdaptiveLayer | None, engine: PrefetchEngine | None,
                   net: SynapticNetwork) -> dict[str, Any]:
    """What the layer did: cycles, adaptations, network size, the prefetch engine's figures."""
    out: dict[str, Any] = {
        "final_threshold": engine.threshold if engine is not None else float("nan"),
        "cycles": layer.cycles if layer is not None else 0,
        "adaptations": len(layer.adaptations) if layer is not None else 0,
        "policy_switches": sum(1 for a in layer.adaptations if a.operation == "switch_policy"
                               and a.outcome == "ok") if layer is not None else 0,
        "network_keys": len(net) if layer is not None else 0,
        "network_bytes": net.memory_bytes() if layer is not None else 0,
    }
    return out


def simulate_adaptive(
    keys_or_trace: Any,
    capacity: int,
    *,
    base_policy: str = "lru",
    adaptive: bool = True,
    prefetch: bool = True,
    threshold: float = 0.4,
    seed: int = 0,
    cycle_seconds: float = 60.0,
    times: Sequence[float] | np.ndarray | None = None,
    rate: float = 100.0,
    latency: Callable[[str], float] | None = None,
    settings: AdapterSettings | None = None,
    network: SynapticNetwork | None = None,
    fanout: int = 2,
    event_log: EventLog = NULL_LOG,
    stride: bool = True,
    timer: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """Run the cache (static, adaptive, with/without prefetch) over a key stream; return figures.

    ``times``: request times in seconds (a :class:`Workload` brings its own); default ``i / rate``.
    ``seed`` is recorded with the result; the layer itself makes no random choice.
    ``stride``: give the prefetch engine a stride predictor beside the synaptic network.
    ``timer``: a clock for benchmarks (e.g. ``time.perf_counter``); when given, the seconds spent
    inside the layer (``on_access``, cycles included) are returned as ``layer_seconds``.
    """
    keys = _keys_of(keys_or_trace)
    n = len(keys)
    t = _request_times(keys_or_trace, n, times, rate)
    s = settings or AdapterSettings()
    if not adaptive:
        s = AdapterSettings(**{**s.__dict__, "adapt_policy": False, "adapt_budget": False,
                               "adapt_threshold": False})
    cache = SimCache(capacity, base_policy, prefetch_budget=0, track_recency=adaptive)
    layer: AdaptiveLayer | None = None
    engine: PrefetchEngine | None = None
    net = network if network is not None else SynapticNetwork(event_log=event_log)
    if adaptive or prefetch:
        layer, engine = _attach_layer(cache, capacity, s, net, adaptive=adaptive, prefetch=prefetch,
                                      threshold=threshold, fanout=fanout, latency=latency, stride=stride,
                                      cycle_seconds=cycle_seconds, start=float(t[0]) if n else 0.0,
                                      event_log=event_log)
    demand_misses, late, layer_seconds = _drive(keys, t.tolist(), cache, layer, engine, latency, timer)
    pst = engine.stats if engine is not None else None
    prefetch_fetches = pst.issued if pst is not None else 0
    demand_fetches = demand_misses - late
    out: dict[str, Any] = {
        "requests": n, "capacity": capacity, "base_policy": base_policy, "adaptive": adaptive,
        "prefetch": prefetch, "threshold": threshold, "seed": seed, "cycle_seconds": cycle_seconds,
        "demand_misses": demand_misses, "miss_ratio": demand_misses / n if n else float("nan"),
        "prefetch_fetches": prefetch_fetches, "demand_fetches": demand_fetches,
        "source_fetches": demand_fetches + prefetch_fetches,
        "fetch_ratio": (demand_fetches + prefetch_fetches) / n if n else float("nan"),
        "final_policy": cache.policy_name,
        "final_prefetch_budget": cache.prefetch_capacity,
        **_layer_figures(layer, engine, net),
        "layer_seconds": layer_seconds if timer is not None else float("nan"),
    }
    if pst is not None:
        out.update({f"prefetch_{k}": v for k, v in pst.as_dict().items()
                    if k in ("timely", "late", "used", "wasted", "wasted_bytes", "accuracy", "coverage",
                             "timeliness")})
    return out
