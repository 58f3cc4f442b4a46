"""Cache adapter: turns a learning cycle's evidence into three bounded, logged adaptations.

(a) Budget split — demand entries vs prefetched-but-unused entries, total fixed
-------------------------------------------------------------------------------
The cache's budget ``B`` is split into a demand area ``B - P`` and a prefetch area ``P``.  Each cycle
compares two marginal utilities, both in "demand hits per slot per access":

* demand:   ``(hits(C) - hits(C - Δ)) / Δ / accesses`` from two shadow copies of the current policy,
  at the demand size ``C`` and at ``C - Δ`` (``Δ = C/8``) — the hits the last ``Δ`` slots earn;
* prefetch: ``used prefetches / mean prefetch-area occupancy / accesses`` — the hits a prefetch
  slot earned on average (an over-estimate of its marginal value, so growth is conservative:
  ``P`` moves by ``B/16`` only when one utility exceeds the other by more than 10 %).

``P`` stays within ``[B/32, B/2]`` while prefetching is on (the floor keeps measuring it).  This is
utility-based partitioning (Qureshi & Patt, "Utility-Based Cache Partitioning", MICRO 2006) with two
partitions and shadow ("ghost") estimates of the demand side.

(b) Eviction policy — shadow caches with hysteresis
---------------------------------------------------
Every candidate policy (registry names) runs as a shadow over the demand stream at the demand size
``C``.  Shadows track keys only and are *spatially sampled* (miniature simulation: Waldspurger et
al., "Cache Modeling and Optimization using Miniature Simulations", USENIX ATC 2017): a key takes
part when ``crc32(key) < rate · 2^32``, and each shadow has capacity ``rate · C``; the rate is 1 for
small caches.  At a cycle the shadow with the best hit ratio in the window replaces the current
policy only if it beat it by at least ``switch_margin`` (absolute) for ``switch_patience``
consecutive cycles over at least ``min_window`` sampled accesses; after a switch the streak restarts.
Shadows stay warm across cycles (only their counters reset).  The switch is done by the target,
which migrates residents (and aborts rather than lose an entry the size does not force out).

(c) Prefetch threshold
----------------------
Accuracy (used / issued) in the window below ``acc_low`` raises the confidence threshold by
``threshold_step``; above ``acc_high`` *and* with the prefetch area not full lowers it; bounded to
``[threshold_min, threshold_max]``.  Needs ``min_issued`` prefetches in the window to act.

Every adaptation is an event (flow ``learning_cycle``, component ``Cache_Adapter``) whose
``detail`` is JSON with the reason and the figures behind it.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from supreme.adaptive import _policies
from supreme.adaptive.analyzer import AnalysisReport
from supreme.adaptive.prefetch import PrefetchEngine, PrefetchStats
from supreme.adaptive.protocols import AdaptationTarget
from supreme.adaptive.synapses import AdaptiveConfigError
from supreme.cache.policies.base import EvictionPolicy
from supreme.events import NULL_LOG, EventLog

__all__ = ["DEFAULT_CANDIDATES", "Adaptation", "AdapterSettings", "CacheAdapter", "ShadowBank"]

_SMALLER = "__current_smaller__"

#: recency, frequency, adaptive recency/frequency, scan-resistant FIFO, lazy promotion, admission filter
DEFAULT_CANDIDATES: tuple[str, ...] = ("lru", "lfu", "arc", "s3fifo", "sieve", "wtinylfu")


class ShadowBank:
    """Key-only shadow caches of candidate policies over a sampled demand stream."""

    def __init__(
        self,
        candidates: Sequence[str],
        capacity: int,
        current: str,
        *,
        rate: float = 0.1,
        min_shadow_capacity: int = 64,
    ) -> None:
        if not candidates:
            raise AdaptiveConfigError("ShadowBank needs at least one candidate policy")
        if not 0.0 < rate <= 1.0:
            raise AdaptiveConfigError(f"shadow sampling rate must be in (0, 1], got {rate}")
        self.candidates = list(dict.fromkeys(candidates))
        self.base_rate = float(rate)
        self.min_shadow_capacity = int(min_shadow_capacity)
        self.current = current
        self.capacity = 0
        self.rate = 1.0
        self._threshold = 1 << 32
        self.shadows: dict[str, EvictionPolicy] = {}
        self.hits: dict[str, int] = {}
        self.sampled = 0
        self._build(capacity)

    def _caps(self, capacity: int) -> tuple[int, int]:
        rate = min(1.0, max(self.base_rate, self.min_shadow_capacity / max(capacity, 1)))
        self.rate = rate
        self._threshold = int(rate * (1 << 32))
        cap = max(2, round(rate * capacity))
        return cap, max(1, cap - max(1, cap // 8))

    def _build(self, capacity: int) -> None:
        self.capacity = capacity
        cap, small = self._caps(capacity)
        self.shadows = {name: _policies.make(name, cap) for name in self.candidates}
        if self.current not in self.shadows:
            self.shadows[self.current] = _policies.make(self.current, cap)
        self.shadows[_SMALLER] = _policies.make(self.current, small)
        self.reset_window()

    @property
    def shadow_capacity(self) -> int:
        """Capacity of each full-size shadow."""
        return self.shadows[self.current].capacity

    @property
    def delta(self) -> int:
        """Slots between the full-size and the smaller shadow of the current policy."""
        return self.shadow_capacity - self.shadows[_SMALLER].capacity

    def access(self, key: Hashable) -> None:
        """Feed one demand access (sampled)."""
        if self.rate < 1.0 and zlib.crc32(str(key).encode()) >= self._threshold:
            return
        self.sampled += 1
        hits = self.hits
        for name, pol in self.shadows.items():
            if pol.request(key):
                hits[name] += 1

    def hit_ratios(self) -> dict[str, float]:
        """Hit ratio of each candidate over the sampled window (NaN if empty)."""
        n = self.sampled
        return {name: (self.hits[name] / n if n else math.nan) for name in self.shadows if name != _SMALLER}

    def marginal_hits_per_slot(self) -> float:
        """Demand hits per slot per access earned by the current policy's last ``delta`` slots."""
        if not self.sampled:
            return math.nan
        return (self.hits[self.current] - self.hits[_SMALLER]) / self.delta / self.sampled

    def reset_window(self) -> None:
        """Zero the counters (shadow contents stay warm)."""
        self.hits = dict.fromkeys(self.shadows, 0)
        self.sampled = 0

    def resize(self, capacity: int) -> None:
        """Follow a new demand size."""
        if capacity == self.capacity:
            return
        self.capacity = capacity
        cap, small = self._caps(capacity)
        for name, pol in self.shadows.items():
            pol.resize(small if name == _SMALLER else cap)

    def set_current(self, name: str) -> None:
        """The cache now runs ``name``: its smaller twin starts as a copy of the full-size shadow."""
        self.current = name
        if name not in self.shadows:
            self.shadows[name] = _policies.make(name, self.shadow_capacity)
        small = _policies.make(name, self.shadows[_SMALLER].capacity)
        for key in list(self.shadows[name].keys()):
            small.insert(key)
        self.shadows[_SMALLER] = small
        self.hits.setdefault(name, 0)
        self.hits[_SMALLER] = self.hits[name]


@dataclass
class AdapterSettings:
    """Knobs of the adapter (see the module docstring for the rules)."""

    candidates: tuple[str, ...] | None = None  # None: DEFAULT_CANDIDATES present in the registry
    shadow_rate: float = 0.1
    min_shadow_capacity: int = 32
    switch_margin: float = 0.01
    switch_patience: int = 2
    min_window: int = 200
    adapt_policy: bool = True
    adapt_budget: bool = True
    adapt_threshold: bool = True
    budget_init_frac: float = 1 / 8
    budget_min_frac: float = 1 / 32
    budget_max_frac: float = 1 / 2
    budget_step_frac: float = 1 / 16
    budget_tolerance: float = 0.1
    acc_low: float = 0.25
    acc_high: float = 0.6
    threshold_step: float = 0.05
    threshold_min: float = 0.1
    threshold_max: float = 0.95
    min_issued: int = 20


@dataclass
class Adaptation:
    """One change (or recommendation) made at a learning cycle."""

    time: float
    operation: str
    outcome: str
    detail: dict[str, Any] = field(default_factory=dict)


class CacheAdapter:
    """Applies budget, policy and threshold adaptations to a target cache and a prefetch engine."""

    def __init__(
        self,
        target: AdaptationTarget | None,
        engine: PrefetchEngine | None = None,
        *,
        settings: AdapterSettings | None = None,
        current_policy: str = "lru",
        capacity: int | None = None,
        event_log: EventLog = NULL_LOG,
    ) -> None:
        self.settings = s = settings or AdapterSettings()
        self.target = target
        self.engine = engine
        self._log = event_log
        if target is not None:
            current_policy = target.policy_name
            capacity = target.budget
        if capacity is None or capacity < 1:
            raise AdaptiveConfigError(f"CacheAdapter needs a positive capacity, got {capacity!r}")
        self.budget = int(capacity)
        self.prefetch_budget = 0
        if engine is not None and target is not None and s.adapt_budget:
            self.prefetch_budget = self._clamp_budget(round(self.budget * s.budget_init_frac))
            target.set_prefetch_budget(self.prefetch_budget)
        present = _policies.available_policies()
        candidates = list(s.candidates) if s.candidates else [c for c in DEFAULT_CANDIDATES if c in present]
        self.shadows: ShadowBank | None = None
        if s.adapt_policy or (engine is not None and s.adapt_budget):
            self.shadows = ShadowBank(candidates if s.adapt_policy else [current_policy],
                                      self.budget - self.prefetch_budget, current_policy,
                                      rate=s.shadow_rate, min_shadow_capacity=s.min_shadow_capacity)
        self.current_policy = current_policy
        self._streak_name: str | None = None
        self._streak = 0
        self.history: list[Adaptation] = []

    def _clamp_budget(self, entries: int) -> int:
        s = self.settings
        lo = max(1, math.floor(self.budget * s.budget_min_frac))
        hi = max(lo, math.floor(self.budget * s.budget_max_frac))
        return int(min(hi, max(lo, entries)))

    def observe(self, key: Hashable) -> None:
        """Hot path: feed one demand access to the shadows."""
        if self.shadows is not None:
            self.shadows.access(key)

    # -- the cycle -----------------------------------------------------------------
    def adapt(self, report: AnalysisReport, window: PrefetchStats | None, now: float) -> list[Adaptation]:
        """Decide and apply this cycle's adaptations; return them (each is also logged)."""
        out: list[Adaptation] = []
        s = self.settings
        if self.shadows is not None and s.adapt_policy:
            out.extend(self._adapt_policy(now))
        if self.engine is not None and window is not None:
            occupancy = float(report.inputs.get("prefetch_occupancy", math.nan))
            if s.adapt_budget and self.target is not None and self.shadows is not None:
                out.extend(self._adapt_budget(window, occupancy, now))
            if s.adapt_threshold:
                out.extend(self._adapt_threshold(window, occupancy, now))
        if self.shadows is not None:
            self.shadows.reset_window()
        if self._log.enabled:
            self._log.record(now, "learning_cycle", "Cache_Adapter", "Apply adaptations", "ok",
                             detail=json.dumps({"count": len(out)}))
            self._log.record(now, "learning_cycle", "Cache_Manager", "Adaptations applied", "ok",
                             detail=json.dumps({"count": len(out)}))
        self.history.extend(out)
        return out

    def _emit(self, now: float, operation: str, outcome: str, detail: dict[str, Any]) -> Adaptation:
        clean = {k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else
                     (None if isinstance(v, float) else v)) for k, v in detail.items()}
        if self._log.enabled:
            self._log.record(now, "learning_cycle", "Cache_Adapter", operation, outcome,
                             detail=json.dumps(clean, sort_keys=True))
        return Adaptation(now, operation, outcome, clean)

    def _adapt_policy(self, now: float) -> list[Adaptation]:
        s = self.settings
        bank = self.shadows
        assert bank is not None
        if bank.sampled < s.min_window:
            return []
        ratios = bank.hit_ratios()
        best = max(sorted(ratios), key=lambda n: ratios[n])
        gain = ratios[best] - ratios[self.current_policy]
        if best == self.current_policy or gain < s.switch_margin:
            self._streak_name, self._streak = None, 0
            return []
        self._streak = self._streak + 1 if best == self._streak_name else 1
        self._streak_name = best
        if self._streak < s.switch_patience:
            return []
        figures: dict[str, Any] = {
            "from": self.current_policy, "to": best, "gain": gain, "margin": s.switch_margin,
            "cycles": self._streak, "sampled": bank.sampled, "rate": bank.rate,
            **{f"hit_ratio.{n}": r for n, r in sorted(ratios.items())},
        }
        self._streak_name, self._streak = None, 0
        if self.target is None:
            figures["reason"] = "shadow beat the current policy; no adaptable target, recommendation only"
            return [self._emit(now, "recommend_policy", "ok", figures)]
        result = self.target.switch_policy(best)
        figures.update(migrated=result.migrated, lost=result.lost)
        if not result.switched:
            figures["reason"] = "switch aborted: the new policy would have lost resident entries"
            return [self._emit(now, "switch_policy", "rejected", figures)]
        figures["reason"] = (f"shadow {best} beat {figures['from']} by {gain:.4f} hit ratio "
                             f"for {s.switch_patience} cycles")
        self.current_policy = best
        bank.set_current(best)
        return [self._emit(now, "switch_policy", "ok", figures)]

    def _adapt_budget(self, window: PrefetchStats, occupancy: float, now: float) -> list[Adaptation]:
        s = self.settings
        bank = self.shadows
        assert bank is not None and self.target is not None
        n = window.demand_accesses
        if n == 0 or bank.sampled < s.min_window:
            return []
        md = bank.marginal_hits_per_slot()
        mp = window.timely / max(occupancy, 1.0) / n
        step = max(1, round(self.budget * s.budget_step_frac))
        old = self.prefetch_budget
        if mp > md * (1 + s.budget_tolerance) and mp > 0:
            new = self._clamp_budget(old + step)
            why = "prefetch slots earn more hits than the last demand slots"
        elif mp < md * (1 - s.budget_tolerance):
            new = self._clamp_budget(old - step)
            why = "the last demand slots earn more hits than prefetch slots"
        else:
            return []
        if new == old:
            return []
        self.prefetch_budget = new
        self.target.set_prefetch_budget(new)
        bank.resize(self.budget - new)
        return [self._emit(now, "resize", "ok", {
            "reason": why, "prefetch_budget_from": old, "prefetch_budget_to": new,
            "demand_size_to": self.budget - new, "budget": self.budget,
            "prefetch_hits_per_slot": mp, "demand_marginal_hits_per_slot": md,
            "prefetch_occupancy": occupancy, "timely": window.timely, "accesses": n,
        })]

    def _adapt_threshold(self, window: PrefetchStats, occupancy: float, now: float) -> list[Adaptation]:
        s = self.settings
        engine = self.engine
        assert engine is not None
        if window.issued < s.min_issued:
            return []
        acc = window.accuracy
        old = engine.threshold
        room = self.prefetch_budget == 0 or not (occupancy >= 0.9 * self.prefetch_budget)
        if acc < s.acc_low:
            new, why = min(s.threshold_max, old + s.threshold_step), f"accuracy {acc:.3f} < {s.acc_low}"
        elif acc > s.acc_high and room:
            new = max(s.threshold_min, old - s.threshold_step)
            why = f"accuracy {acc:.3f} > {s.acc_high} and prefetch budget not full"
        else:
            return []
        new = round(new, 6)
        if new == old:
            return []
        engine.threshold = new
        return [self._emit(now, "set_threshold", "ok", {
            "reason": why, "threshold_from": old, "threshold_to": new, "accuracy": acc,
            "issued": window.issued, "used": window.used, "wasted": window.wasted,
            "prefetch_occupancy": occupancy, "prefetch_budget": self.prefetch_budget,
        })]
