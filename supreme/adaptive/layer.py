"""The adaptive layer: the cache manager's :class:`AccessObserver`, wiring the learning cycle.

Per demand access (hot path, the seed's "Record access pattern" and "Access data item X")::

    prefetcher.on_demand(key, hit)          # was it a prefetched entry? a demand miss?
    score the previous access's predictions # did they contain this key?
    network.record(key, now)                # buffered: an int id appended; a compiled batch every N
    adapter.observe(key)                    # one list append: shadows replay once per cycle
    if now >= next_cycle: run_cycle(now)    # the 60-s learning cycle, on the injected clock
    prefetcher.after_access(key, now)       # prefetch confident predictions

Per learning cycle (every ``cycle_seconds`` of clock time, checked on access, or explicitly via
:meth:`run_cycle`): sweep prefetched entries that left the cache, analyse the window, let the
adapter adapt, prune weak links (every ``prune_every`` cycles: the network is bounded by
``max_keys`` anyway, and a full prune is a Python pass over every node), start a new window.

Wiring: a cache that can apply adaptations calls :meth:`AdaptiveLayer.offer_target` (the
``CacheManager`` does when built with ``adaptive=layer``); the layer's adapter — present or assigned
later — adopts it if it has no target (:meth:`CacheAdapter.attach_target`), so its policy and
budget decisions are applied instead of only being logged.

Cost per access (hot path, no event log): one dict lookup and two appends into the network's batch
buffer (the Hebbian updates run compiled once per ``network.batch`` accesses), one dict lookup of
the published predictions (they lag by less than one batch), a memoised stride observation when a
predictor is attached, two list appends.  Everything proportional to the window (analysis, shadow
replay) runs once per cycle, vectorised or compiled; the pattern analysis itself is computed on the
first read of the report's ``frame`` or ``summary`` (at once when the event log is on).
"""

from __future__ import annotations

import json
import math
from collections import deque

from supreme.adaptive.adapter import Adaptation, CacheAdapter
from supreme.adaptive.analyzer import AnalysisReport, PatternAnalyzer
from supreme.adaptive.prefetch import PrefetchEngine
from supreme.adaptive.synapses import AdaptiveConfigError, SynapticNetwork
from supreme.cache.protocols import AdaptationTarget
from supreme.clock import Clock
from supreme.events import NULL_LOG, EventLog

__all__ = ["AdaptiveLayer"]


class AdaptiveLayer:
    """Learns from every access; once per cycle analyses and adapts (implements AccessObserver)."""

    def __init__(
        self,
        network: SynapticNetwork | None = None,
        *,
        analyzer: PatternAnalyzer | None = None,
        adapter: CacheAdapter | None = None,
        prefetcher: PrefetchEngine | None = None,
        clock: Clock | None = None,
        cycle_seconds: float = 60.0,
        history: int = 4096,
        keep_reports: int = 0,
        event_log: EventLog = NULL_LOG,
        prune_every: int = 10,
    ) -> None:
        if not cycle_seconds > 0:
            raise AdaptiveConfigError(f"cycle_seconds must be > 0, got {cycle_seconds}")
        if history < 1:
            raise AdaptiveConfigError(f"history must be >= 1, got {history}")
        self.network = network if network is not None else SynapticNetwork(event_log=event_log)
        self.analyzer = analyzer if analyzer is not None else PatternAnalyzer(event_log=event_log)
        self._target: AdaptationTarget | None = None  # a cache that offered itself (offer_target)
        self._target_now = 0.0
        self.adapter = adapter  # the property wires the shadow caches
        self.prefetcher = prefetcher
        self.clock = clock
        self.cycle_seconds = float(cycle_seconds)
        self._log = event_log
        self._recent: deque[str] = deque(maxlen=history)
        self._next_cycle: float | None = None
        self._last_pred: tuple[object, ...] = ()
        self._checked = 0
        self._right = 0
        self._occupancy_sum = 0
        self._accesses = 0
        self.cycles = 0
        self.last_report: AnalysisReport | None = None
        self.reports: deque[AnalysisReport] = deque(maxlen=max(keep_reports, 1))
        self._keep_reports = keep_reports > 0
        self.prune_every = max(1, int(prune_every))

    @property
    def adapter(self) -> CacheAdapter | None:
        """The cache adapter; assigning one (at any time) wires its shadow caches to the accesses."""
        return self._adapter

    @adapter.setter
    def adapter(self, adapter: CacheAdapter | None) -> None:
        if adapter is not None and adapter.target is None and self._target is not None:
            adapter.attach_target(self._target, self._offer_time())
        self._adapter = adapter
        self.adaptations: list[Adaptation] = list(adapter.history) if adapter is not None else []
        bank = adapter.shadows if adapter is not None else None
        self._observe = bank.appender if bank is not None else None
        self._early_at = adapter.early_check_at() if adapter is not None else -1

    def offer_target(self, target: AdaptationTarget, now: float | None = None) -> None:
        """A cache offers itself as the adapter's target (``CacheManager`` does, when built with this layer).

        An adapter without a target — the current one or one assigned later — adopts it, so its
        policy and budget decisions are applied to that cache instead of only being logged.
        """
        self._target = target
        if now is not None:
            self._target_now = float(now)
        adapter = self._adapter
        if adapter is not None and adapter.target is None:
            self.adaptations.extend(adapter.attach_target(target, self._offer_time()))

    def _offer_time(self) -> float:
        return self.clock.now() if self.clock is not None else self._target_now

    # -- AccessObserver -------------------------------------------------------------
    def on_access(self, key: str, hit: bool, tier: str | None, now: float) -> None:
        """Record one demand access; may run the learning cycle and issue prefetches."""
        pf = self.prefetcher
        if pf is not None:
            pf.on_demand(key, hit, now)
            self._occupancy_sum += len(pf._outstanding)
        last = self._last_pred
        if last:
            self._checked += 1
            if key in last:
                self._right += 1
        self.network.record(key, now)
        self._recent.append(key)
        self._accesses += 1
        observe = self._observe
        if observe is not None:
            observe(key)
            if self._accesses == self._early_at and self._adapter is not None:
                self.adaptations.extend(self._adapter.early_retune(now))
                self._early_at = self._adapter.early_check_at(self._accesses)
        nxt = self._next_cycle
        if nxt is None:
            self._next_cycle = now + self.cycle_seconds
        elif now >= nxt:
            self.run_cycle(now)
        if pf is not None:
            pf.after_access(key, now)
            self._last_pred = pf.last_predicted
        else:  # the network's predictions as of its last batch (no flush on the hot path)
            entry = self.network.lookup(key)
            self._last_pred = entry[1][:1] if entry is not None else ()

    def maybe_run(self, now: float) -> bool:
        """Run the learning cycle if it is due at ``now``; return whether it ran."""
        if self._next_cycle is None:
            self._next_cycle = now + self.cycle_seconds
            return False
        if now >= self._next_cycle:
            self.run_cycle(now)
            return True
        return False

    # -- the learning cycle --------------------------------------------------------------
    def run_cycle(self, now: float | None = None) -> AnalysisReport:
        """Analyse the window, adapt, prune; schedule the next cycle ``cycle_seconds`` on."""
        if now is None:
            if self.clock is None:
                raise AdaptiveConfigError("run_cycle needs `now` or a clock")
            now = self.clock.now()
        if self._log.enabled:
            self._log.record(now, "learning_cycle", "Synaptic_Network", "Analyze recent patterns", "ok",
                             detail=json.dumps({"accesses": self._accesses, "keys": len(self.network)}))
        pf = self.prefetcher
        window = None
        inputs: dict[str, float] = {
            "prefetch_occupancy": self._occupancy_sum / self._accesses if self._accesses else math.nan,
            "network_keys": float(len(self.network)),
        }
        if pf is not None:
            pf.sweep()
            window = pf.new_cycle()
            inputs.update({f"prefetch_{k}": float(v) for k, v in window.as_dict().items()})
            inputs["prefetch_threshold"] = pf.threshold
        if self.adapter is not None and self.adapter.shadows is not None:
            for name, r in self.adapter.shadows.hit_ratios().items():
                inputs[f"shadow_hit_ratio.{name}"] = r
        report = self.analyzer.analyze(list(self._recent), now, predictions_checked=self._checked,
                                       predictions_right=self._right, inputs=inputs)
        if self.adapter is not None:
            self.adaptations.extend(self.adapter.adapt(report, window, now))
        if self.cycles % self.prune_every == 0:
            self.network.prune(now)
        self._recent.clear()
        self._checked = self._right = 0
        self._occupancy_sum = 0
        self._accesses = 0
        self.cycles += 1
        self.last_report = report
        if self._keep_reports:
            self.reports.append(report)
        nxt = self._next_cycle if self._next_cycle is not None else now
        if nxt <= now:  # stay on the cycle grid; an idle gap runs one cycle, not many
            nxt += (math.floor((now - nxt) / self.cycle_seconds) + 1) * self.cycle_seconds
        self._next_cycle = nxt
        return report
