"""Adaptive W-TinyLFU: Caffeine's hill climber sizes the window between recency and frequency.

References: Einziger, Eytan, Friedman & Manes, "Adaptive Software Cache Management", Middleware
2018 (the hill-climbing window); Caffeine's ``BoundedLocalCache.climb``/``determineAdjustment``.

Pseudocode (on top of :class:`~supreme.cache.policies.wtinylfu.WTinyLFU`)::

    every request counts a hit or a miss; every `10 x capacity` requests (the sketch's sample):
        hit_rate = hits / requests;  change = hit_rate - previous hit_rate
        amount = step if change >= 0 else -step            (keep going while it helps)
        step   = 6.25 % of capacity, signed like amount    if |change| >= 0.05 (restart)
                 0.98 x amount                              otherwise (decay)
        window += amount (protected -= amount), within [1, capacity - 1]
    first step: -6.25 % (Caffeine starts by trying a smaller window)

A larger window moves probation's (then protected's) LRU keys into the window's MRU end; a smaller
one moves the window's LRU keys to probation: keys move between segments, none is evicted, so a
hit never changes the contents.  libCacheSim has no adaptive W-TinyLFU, so there is no oracle:
the tests check the climber's direction on recency- and frequency-biased traces and the miss
ratio against static windows.  Departures from Caffeine: fractional steps accumulate in a float
and the window moves by whole units; on ``resize`` the window keeps its share of the capacity;
the rest as :class:`WTinyLFU` (no random admission of warm candidates).
"""

from __future__ import annotations

from collections.abc import Hashable

from supreme.cache.policies.wtinylfu import WTinyLFU

__all__ = ["AdaptiveWTinyLFU"]

STEP_PERCENT = 0.0625  # Caffeine's HILL_CLIMBER_STEP_PERCENT
STEP_DECAY = 0.98  # HILL_CLIMBER_STEP_DECAY_RATE
RESTART_THRESHOLD = 0.05  # HILL_CLIMBER_RESTART_THRESHOLD


class AdaptiveWTinyLFU(WTinyLFU):
    """W-TinyLFU whose window size is tuned by Caffeine's hill climber."""

    name = "caffeine"

    def __init__(self, capacity: int, window_ratio: float = 0.01, protected_ratio: float = 0.8) -> None:
        self._window_units = -1.0  # set by _on_capacity from the ratio on first use
        self._sized_for = int(capacity)
        super().__init__(capacity, window_ratio, protected_ratio)
        self._step = -STEP_PERCENT * capacity
        self._previous_rate = 0.0
        self._hits = self._misses = 0
        self.adjustments: list[int] = []  # the window change applied at each sample (for study)

    def _on_capacity(self) -> None:
        share = self._window_ratio if self._window_units < 0 else self._window_units / max(1, self._sized_for)
        self._sized_for = self._capacity
        self._window_units = max(1.0, min(self._capacity - 1.0, share * self._capacity))
        self._set_sizes()

    def _set_sizes(self) -> None:
        self.window_size = max(1, int(self._window_units))
        self.main_size = max(1, self._capacity - self.window_size)
        self.protected_size = int(self.main_size * self._protected_ratio)

    def _on_hit(self, key: Hashable) -> None:
        super()._on_hit(key)
        self._hits += 1
        self._maybe_climb()

    def _admit(self, key: Hashable, size: int) -> bool:
        self._misses += 1  # the L1 tier never calls lookup on a miss: the admission is the miss
        self._maybe_climb()
        return True

    def _maybe_climb(self) -> None:
        requests = self._hits + self._misses
        if requests < 10 * self._capacity:
            return
        rate = self._hits / requests
        change = rate - self._previous_rate
        amount = self._step if change >= 0 else -self._step
        sign = 1.0 if amount >= 0 else -1.0
        self._step = (STEP_PERCENT * self._capacity * sign if abs(change) >= RESTART_THRESHOLD
                      else STEP_DECAY * amount)
        self._previous_rate = rate
        self._hits = self._misses = 0
        before = self.window_size
        self._window_units = max(1.0, min(self._capacity - 1.0, self._window_units + amount))
        self._set_sizes()
        self._rebalance()
        self.adjustments.append(self.window_size - before)

    def _rebalance(self) -> None:
        """Move keys between the window and main to the new sizes (no eviction)."""
        sizes, window = self._sizes, self._window
        while self._s_window > self.window_size and len(window) > 1:  # smaller window
            key = next(iter(window))
            del window[key]
            self._s_window -= sizes[key]
            self._probation[key] = None
            self._s_probation += sizes[key]
        while self._s_probation + self._s_protected > self.main_size:  # larger window
            key = self._main_victim()
            if key is None:
                break
            self._drop_main(key)
            window[key] = None
            self._s_window += sizes[key]
        while self._s_protected > self.protected_size and self._protected:
            key = next(iter(self._protected))
            del self._protected[key]
            self._s_protected -= sizes[key]
            self._probation[key] = None
            self._s_probation += sizes[key]
