"""W-TinyLFU: a small LRU window, a TinyLFU admission filter, and a segmented-LRU main cache.

Reference: Einziger, Friedman & Manes, "TinyLFU: A Highly Efficient Cache
Admission Policy", ACM Transactions on Storage 13(4), 2017, §4 (W-TinyLFU),
as Caffeine implements it (BoundedLocalCache: window 1 %, main SLRU with
80 % protected / 20 % probation, FrequencySketch as the filter).

Pseudocode::

    every access (hit or miss): sketch.increment(x)
    hit in window:    move x to window MRU
    hit in probation: move x to protected MRU; demote protected LRU keys to probation MRU
                      while protected exceeds 80 % of main
    hit in protected: move x to protected MRU
    miss:             while the cache is full (x is about to push the window's LRU out):
        c = window LRU
        if main has room: move c to probation MRU
        else: v = probation LRU (protected LRU if probation is empty)
              if sketch(c) > sketch(v): evict v, move c to probation MRU   (admit)
              else: evict c                                                 (reject)
                      push x to window MRU; while the window exceeds 1 % and main has room:
                          move window LRU to probation MRU

Departures from Caffeine: no adaptive window sizing (hill climbing) and no
random admission of warm candidates (Caffeine's hash-flooding guard), so the
policy is deterministic; see ``sketch.py`` for the sketch's details.  The
window keeps at least one slot.  A low-priority insert (prefetch) enters
probation at its LRU end: it is the next main victim unless used.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from supreme.cache.policies.base import EvictionPolicy
from supreme.cache.policies.ordered import drop_from_either
from supreme.cache.policies.sketch import CountMinSketch

__all__ = ["WTinyLFU"]


class WTinyLFU(EvictionPolicy):
    """Window TinyLFU with a segmented-LRU main cache."""

    name = "wtinylfu"

    def __init__(self, capacity: int, window_ratio: float = 0.01, protected_ratio: float = 0.8) -> None:
        super().__init__(capacity)
        if not 0.0 < window_ratio < 1.0 or not 0.0 < protected_ratio < 1.0:
            raise ValueError(f"ratios must be in (0, 1), got {window_ratio!r}, {protected_ratio!r}")
        self._window_ratio, self._protected_ratio = window_ratio, protected_ratio
        self._window: OrderedDict[Hashable, None] = OrderedDict()  # first = LRU
        self._probation: OrderedDict[Hashable, None] = OrderedDict()
        self._protected: OrderedDict[Hashable, None] = OrderedDict()
        self._s_window = self._s_probation = self._s_protected = 0
        self.sketch = CountMinSketch(capacity)
        self._on_capacity()

    def _on_capacity(self) -> None:
        # the segment shares follow the capacity; the sketch keeps its width
        self.window_size = max(1, int(self._capacity * self._window_ratio))
        self.main_size = max(1, self._capacity - self.window_size)
        self.protected_size = int(self.main_size * self._protected_ratio)

    def segment_of(self, key: Hashable) -> str | None:
        """``"window"``, ``"probation"``, ``"protected"`` or None."""
        for name, seg in (("window", self._window), ("probation", self._probation),
                          ("protected", self._protected)):
            if key in seg:
                return name
        return None

    def _on_hit(self, key: Hashable) -> None:
        self.sketch.increment(key)
        # a key sits in exactly one segment; protected holds most of the hits, so test it first
        protected = self._protected
        if key in protected:
            protected.move_to_end(key)
        elif key in self._window:
            self._window.move_to_end(key)
        else:
            sizes = self._sizes
            probation = self._probation
            size = sizes[key]
            del probation[key]
            self._s_probation -= size
            protected[key] = None
            s_protected = self._s_protected + size
            limit = self.protected_size
            while s_protected > limit and len(protected) > 1:
                demoted = next(iter(protected))
                del protected[demoted]
                dsize = sizes[demoted]
                s_protected -= dsize
                probation[demoted] = None
                self._s_probation += dsize
            self._s_protected = s_protected

    def _on_insert(self, key: Hashable, low_priority: bool) -> None:
        self.sketch.increment(key)
        size = self._sizes[key]
        if low_priority:
            self._probation[key] = None
            self._probation.move_to_end(key, last=False)
            self._s_probation += size
        else:
            self._window[key] = None
            self._s_window += size
            self._drain_window()

    def _drain_window(self) -> None:
        # Caffeine's evictFromWindow while main still has room (cold start): no duel needed
        while self._s_window > self.window_size:
            cand = next(iter(self._window))
            size = self._sizes[cand]
            if self._s_probation + self._s_protected + size > self.main_size:
                return
            del self._window[cand]
            self._s_window -= size
            self._probation[cand] = None
            self._s_probation += size

    def _main_victim(self) -> Hashable | None:
        if self._probation:
            return next(iter(self._probation))
        return next(iter(self._protected)) if self._protected else None

    def _drop_main(self, key: Hashable) -> None:
        self._s_probation, self._s_protected = drop_from_either(
            key, self._sizes[key], self._probation, self._s_probation, self._protected, self._s_protected)

    def _pop_victim(self) -> Hashable:
        sizes = self._sizes
        while True:
            if self._s_probation + self._s_protected > self.main_size or not self._window:
                victim = self._main_victim()
                if victim is not None:
                    self._drop_main(victim)
                    return victim
            cand = next(iter(self._window))
            del self._window[cand]
            size = sizes[cand]
            self._s_window -= size
            if self._s_probation + self._s_protected + size <= self.main_size:
                self._probation[cand] = None
                self._s_probation += size
                continue
            victim = self._main_victim()
            if victim is None:
                return cand
            if self.sketch.estimate(cand) > self.sketch.estimate(victim):
                self._drop_main(victim)
                self._probation[cand] = None
                self._s_probation += size
                return victim
            return cand

    def _on_remove(self, key: Hashable) -> None:
        if key in self._window:
            del self._window[key]
            self._s_window -= self._sizes[key]
        else:
            self._drop_main(key)
