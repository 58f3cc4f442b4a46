"""The adaptive layer attached to the running service's cache manager (``SUPREME_ADAPTIVE``).

``market`` (the default) feeds the layer only the market-data keys (``ohlcv:…``, the feed's windows),
``all`` every key, ``off`` nothing.  The layer learns on every such access and, once per learning
cycle on the service clock, lets its :class:`~supreme.adaptive.adapter.CacheAdapter` switch the L1
policy when a shadow cache wins (no start-up switch: the configured policy stays until evidence says
otherwise).  Each adaptation is in the event log (the adapter logs it, flow ``learning_cycle``) and in
``/metrics``: ``supreme_adaptive_cycles_total``, ``supreme_adaptive_accesses_total``,
``supreme_adaptations_total{operation,outcome}`` and ``supreme_adaptive_policy{policy}`` (1 for the
policy in force).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from supreme.adaptive.adapter import AdapterSettings, CacheAdapter
from supreme.adaptive.layer import AdaptiveLayer
from supreme.adaptive.synapses import SynapticNetwork
from supreme.cache.protocols import AdaptationTarget
from supreme.clock import Clock
from supreme.events import NULL_LOG, EventLog

__all__ = ["MARKET_PREFIXES", "AdaptiveCollector", "KeyFilter", "live_adaptive"]

#: key prefixes of market data in the live cache (see :mod:`supreme.market.feed`)
MARKET_PREFIXES: tuple[str, ...] = ("ohlcv:",)


class KeyFilter:
    """An AccessObserver that passes on only keys with one of ``prefixes`` (and the target offer).

    The service answers requests in a thread pool, so accesses arrive from several threads; the layer
    is single-threaded by design, so every call into it holds one lock (the cycle runs rarely).
    """

    def __init__(self, layer: AdaptiveLayer, prefixes: tuple[str, ...]) -> None:
        self.layer = layer
        self.prefixes = prefixes
        self.seen = 0
        self._lock = threading.Lock()

    def on_access(self, key: str, hit: bool, tier: str | None, now: float) -> None:
        """Forward a market-data access to the layer."""
        if key.startswith(self.prefixes):
            with self._lock:
                self.seen += 1
                self.layer.on_access(key, hit, tier, now)

    def maybe_run(self, now: float) -> bool:
        """Run the learning cycle if due at ``now`` (called on the service clock, with or without traffic)."""
        with self._lock:
            return self.layer.maybe_run(now)

    def offer_target(self, target: AdaptationTarget, now: float | None = None) -> None:
        """The manager offers itself: the layer's adapter adopts it."""
        self.layer.offer_target(target, now)


def live_adaptive(mode: str, clock: Clock, *, capacity: int, policy: str, cycle_seconds: float = 60.0,
                  event_log: EventLog = NULL_LOG) -> tuple[KeyFilter | None, AdaptiveLayer | None]:
    """``(observer for CacheManager(adaptive=...), layer)`` for ``mode``; ``(None, None)`` when off."""
    if mode == "off":
        return None, None
    if mode not in ("market", "all"):
        raise ValueError(f"adaptive mode must be market/all/off, got {mode!r}")
    adapter = CacheAdapter(None, settings=AdapterSettings(start_policy=None, adapt_budget=False,
                                                          adapt_threshold=False),
                           current_policy=policy, capacity=capacity, event_log=event_log, now=clock.now())
    layer = AdaptiveLayer(SynapticNetwork(event_log=event_log), adapter=adapter, clock=clock,
                          cycle_seconds=cycle_seconds, event_log=event_log)
    return KeyFilter(layer, MARKET_PREFIXES if mode == "market" else ("",)), layer


class AdaptiveCollector(Collector):
    """The layer's cycles, accesses and adaptations, read at scrape time."""

    def __init__(self, layer: AdaptiveLayer, prefix: str = "supreme") -> None:
        self.layer = layer
        self.prefix = prefix

    def collect(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily]:
        p, layer = self.prefix, self.layer
        cycles = CounterMetricFamily(f"{p}_adaptive_cycles", "Learning cycles run")
        cycles.add_metric([], float(layer.cycles))
        accesses = CounterMetricFamily(f"{p}_adaptive_accesses", "Accesses the adaptive layer learned from")
        accesses.add_metric([], float(layer._accesses))
        made = CounterMetricFamily(f"{p}_adaptations", "Adaptations made", labels=["operation", "outcome"])
        for (op, outcome), n in sorted(Counter((a.operation, a.outcome) for a in layer.adaptations).items()):
            made.add_metric([op, outcome], float(n))
        policy = GaugeMetricFamily(f"{p}_adaptive_policy", "L1 policy in force (1)", labels=["policy"])
        if layer.adapter is not None:
            policy.add_metric([layer.adapter.current_policy], 1.0)
        yield cycles
        yield accesses
        yield made
        yield policy
