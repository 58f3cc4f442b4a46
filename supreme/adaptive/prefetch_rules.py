"""The adapter's prefetch rules: (a) the split between demand and prefetched entries, (c) the threshold.

The rules are explained in :mod:`supreme.adaptive.adapter` (sections (a) and (c)); this mixin holds
them so the adapter module keeps to the policy rule.  It reads the adapter's ``settings``,
``budget``, ``prefetch_budget``, ``target``, ``shadows`` and ``engine`` and emits through ``_emit``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from supreme.adaptive.prefetch_stats import PrefetchStats

if TYPE_CHECKING:
    from supreme.adaptive.adapter import Adaptation, AdapterSettings
    from supreme.adaptive.prefetch import PrefetchEngine
    from supreme.adaptive.shadow import ShadowBank
    from supreme.cache.protocols import AdaptationTarget

__all__ = ["PrefetchRules"]


class PrefetchRules:
    """Budget and threshold adaptations of :class:`~supreme.adaptive.adapter.CacheAdapter`."""

    settings: AdapterSettings
    budget: int
    prefetch_budget: int
    target: AdaptationTarget | None
    shadows: ShadowBank | None
    engine: PrefetchEngine | None
    _budget_off: bool
    _off_cycles: int
    _off_wait: int
    _probed: bool

    def _emit(self, now: float, operation: str, outcome: str, detail: dict[str, Any]) -> Adaptation:
        raise NotImplementedError

    def _clamp_budget(self, entries: int) -> int:
        s = self.settings
        lo = max(1, math.floor(self.budget * s.budget_min_frac))
        hi = max(lo, math.floor(self.budget * s.budget_max_frac))
        return int(min(hi, max(lo, entries)))

    def _adapt_budget(self, window: PrefetchStats, occupancy: float, now: float) -> list[Adaptation]:
        s = self.settings
        bank = self.shadows
        assert bank is not None and self.target is not None
        n = window.demand_accesses
        old = self.prefetch_budget
        engine = self.engine
        if engine is not None and engine.all_muted:
            # only probes are issued: give the prefetch area back to demand entries (to 0 — the
            # floor is for measuring, and probes are measured as low-priority demand inserts)
            return self._set_budget(0, "every predictor is muted: prefetching does not pay", now, {})
        if old == 0 and engine is not None and not self._budget_off:
            return self._set_budget(self._clamp_budget(0), "a predictor is un-muted: prefetch area back",
                                    now, {})
        if old == 0 and self._budget_off:
            # given up for low utility: re-measure at the floor now and then (exponential back-off),
            # since low-priority prefetches in the demand area may be judged unfairly by its policy
            self._off_cycles += 1
            if self._off_cycles >= self._off_wait:
                self._budget_off = False
                self._off_cycles = 0
                return self._set_budget(self._clamp_budget(0), "re-measuring the prefetch area at its floor",
                                        now, {"cycles_off": self._off_wait})
        if n == 0 or bank.sampled < s.min_window:
            return []
        md = bank.marginal_hits_per_slot()
        mp = window.timely / max(occupancy, 1.0) / n
        step = max(1, round(self.budget * s.budget_step_frac))
        floor = self._clamp_budget(0)
        if mp > md * (1 + s.budget_tolerance) and mp > 0:
            new = floor if old == 0 else self._clamp_budget(old + step)
            why = "prefetch slots earn more hits than the last demand slots"
            self._budget_off = False
            self._off_wait = 2
        elif mp < md * (1 - s.budget_tolerance):
            if old <= floor:
                # the floor is for measuring; prefetches still land, low-priority, in the demand area,
                # where their hits keep being counted (a return to the floor when they earn more)
                if not self._budget_off and self._off_cycles == 0 and self._probed:
                    self._off_wait = min(2 * self._off_wait, 32)  # a failed re-measure: wait longer
                new, self._budget_off, self._probed = 0, True, True
                why = "even at the floor, prefetch slots earn fewer hits than the last demand slots"
            else:
                new = self._clamp_budget(old - step)
                why = "the last demand slots earn more hits than prefetch slots"
        else:
            return []
        return self._set_budget(new, why, now, {
            "prefetch_hits_per_slot": mp, "demand_marginal_hits_per_slot": md,
            "prefetch_occupancy": occupancy, "timely": window.timely, "accesses": n,
        })

    def _set_budget(self, new: int, why: str, now: float, figures: dict[str, Any]) -> list[Adaptation]:
        old = self.prefetch_budget
        if new == old or self.target is None or self.shadows is None:
            return []
        self.prefetch_budget = new
        self.target.set_prefetch_budget(new)
        self.shadows.resize(self.budget - new)
        return [self._emit(now, "resize", "ok", {
            "reason": why, "prefetch_budget_from": old, "prefetch_budget_to": new,
            "demand_size_to": self.budget - new, "budget": self.budget, **figures,
        })]

    def _adapt_threshold(self, window: PrefetchStats, occupancy: float, now: float) -> list[Adaptation]:
        s = self.settings
        engine = self.engine
        assert engine is not None
        if window.issued < s.min_issued:
            return []
        # a window counts uses of entries prefetched in the window before, so its ratio can pass 1
        acc = min(1.0, window.accuracy)
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
