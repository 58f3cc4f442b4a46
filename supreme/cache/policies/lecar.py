"""LeCaR: learning cache replacement, an LRU expert and an LFU expert weighted by regret.

Reference: Vietri, Rodriguez, Martinez, Lyons, Liu, Rangaswami, Zhao & Narasimhan, "Driving Cache
Replacement with ML-based LeCaR", HotStorage 2018.

Pseudocode::

    each eviction: with probability w_lru evict LRU's victim, else LFU's (least frequent, oldest
                   first among equals); remember the victim in one history (at most `capacity`
                   units) tagged with the expert that chose it and the request count then
    miss on a history key evicted by expert E, t requests ago:
                   w_E *= exp(-lr * dr ** t); renormalise (the expert that was wrong loses weight)
    hit:           LRU: to the MRU end; LFU: frequency + 1

``lr = 0.45`` and ``dr = 0.005 ** (1 / capacity)`` (the paper's values, libCacheSim's ``LeCaR.c``,
whose weight arithmetic, 1e-10 floors and 1/100 draws this follows).  The draws come from a
``random.Random(seed)``, so a run is reproducible but does not replay libCacheSim's generator:
the two are compared within a tolerance (tests).  Departures: sizes count in the capacity's unit;
a key back from the history starts again at frequency 1 (as libCacheSim); a low-priority insert
(prefetch) enters at LRU's end and LFU's front, the first victim of either expert.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from collections.abc import Hashable

from supreme.cache.policies.base import EvictionPolicy

__all__ = ["LeCaR"]


class LeCaR(EvictionPolicy):
    """LeCaR with seeded expert draws."""

    name = "lecar"
    spec_param = "seed"

    def __init__(self, capacity: int, seed: int = 0, learning_rate: float = 0.45) -> None:
        super().__init__(capacity)
        self._seed = int(seed)
        self._rng = random.Random(self._seed)
        self._lr = float(learning_rate)
        self.w_lru = self.w_lfu = 0.5
        self._lru: OrderedDict[Hashable, None] = OrderedDict()  # LRU first
        self._freq: dict[Hashable, int] = {}
        self._buckets: dict[int, OrderedDict[Hashable, None]] = {}  # freq -> keys, oldest first
        self._min_freq = 1
        self._history: OrderedDict[Hashable, tuple[bool, int, int]] = OrderedDict()  # key -> by_lru, t, size
        self._history_used = 0
        self._now = 0
        self._on_capacity()

    @property
    def spec(self) -> str:
        """``lecar`` (seed 0) or ``lecar:<seed>``."""
        return self.name if self._seed == 0 else f"{self.name}:{self._seed}"

    def _on_capacity(self) -> None:
        self._dr = 0.005 ** (1.0 / self._capacity)

    def _admit(self, key: Hashable, size: int) -> bool:
        # a miss being admitted: the L1 tier never calls ``lookup`` on a miss, so the history
        # is consulted here; every request is a hit or an admission, the clock of ``t``
        self._now += 1
        entry = self._history.pop(key, None)
        if entry is not None:
            by_lru, when, old_size = entry
            self._history_used -= old_size
            self._punish(by_lru, self._now - when)
        return True

    def _punish(self, by_lru: bool, t: int) -> None:
        r = self._dr ** t
        if by_lru:
            self.w_lru = self.w_lru * math.exp(-self._lr * r) + 1e-10
            s = self.w_lru + self.w_lfu + 2e-10
            self.w_lru, self.w_lfu = self.w_lru / s, (self.w_lfu + 1e-10) / s
        else:
            self.w_lfu = self.w_lfu * math.exp(-self._lr * r) + 1e-10
            s = self.w_lfu + self.w_lru + 2e-10
            self.w_lfu, self.w_lru = self.w_lfu / s, (self.w_lru + 1e-10) / s

    def _bucket_out(self, key: Hashable) -> int:
        freq = self._freq.pop(key)
        bucket = self._buckets[freq]
        del bucket[key]
        if not bucket:
            del self._buckets[freq]
            if freq == self._min_freq and self._buckets:
                self._min_freq = min(self._buckets)
        return freq

    def _bucket_in(self, key: Hashable, freq: int, front: bool = False) -> None:
        self._freq[key] = freq
        bucket = self._buckets.setdefault(freq, OrderedDict())
        bucket[key] = None
        if front:
            bucket.move_to_end(key, last=False)
        if freq < self._min_freq or len(self._buckets) == 1:
            self._min_freq = freq

    def _on_hit(self, key: Hashable) -> None:
        self._now += 1
        self._lru.move_to_end(key)
        self._bucket_in(key, self._bucket_out(key) + 1)

    def _on_insert(self, key: Hashable, low_priority: bool) -> None:
        stale = self._history.pop(key, None)  # inserted without a lookup first (a direct set)
        if stale is not None:
            self._history_used -= stale[2]
        self._lru[key] = None
        if low_priority:
            self._lru.move_to_end(key, last=False)
        self._bucket_in(key, 1, front=low_priority)

    def _pop_victim(self) -> Hashable:
        by_lru = self._rng.randrange(100) / 100.0 < self.w_lru
        key = next(iter(self._lru)) if by_lru else next(iter(self._buckets[self._min_freq]))
        del self._lru[key]
        self._bucket_out(key)
        size = self._sizes[key]
        self._history[key] = (by_lru, self._now, size)
        self._history.move_to_end(key)
        self._history_used += size
        while self._history_used > self._capacity:
            self._history_used -= self._history.popitem(last=False)[1][2]
        return key

    def _on_remove(self, key: Hashable) -> None:
        del self._lru[key]
        self._bucket_out(key)
