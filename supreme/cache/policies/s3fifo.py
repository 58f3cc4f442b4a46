"""S3-FIFO: three static FIFO queues (small, main, ghost).

Reference: Yang, Zhang, Qiu, Yue & Rashmi, "FIFO queues are all you need for
cache eviction", SOSP 2023, Algorithm 1.

Pseudocode (S = small, 10 % of c; M = main, the rest; G = ghost of keys, |M|)::

    hit:   freq[x] = min(freq[x] + 1, 3)
    miss:  while full: evict()
           if x in G: push x to M (and drop it from G) else push x to S;  freq[x] = 0
    evict: if |M| > its size or S is empty: evictM() else evictS()
    evictS: t = tail of S
            if freq[t] >= 2: move t to M with freq 0, repeat      (paper: freq > 1)
            else: move t's key to G (G drops its oldest when full); t is the victim
    evictM: t = tail of M
            if freq[t] >= 1: reinsert t at the head of M with freq - 1, repeat
            else: t is the victim

Departures (all as libCacheSim's S3FIFO.c, so miss ratios match it exactly):
the choice between evictS and evictM looks at whether M exceeds its share
rather than whether S is below 10 %; before the first eviction, once S is
full, new keys go straight to M (so the cold-start fill does not all pass
through S); a key moved from S to M starts M with freq 0.  S keeps at least
one slot, so tiny caches still work.  A low-priority insert (prefetch) enters
S at its eviction end with freq 0: unless it is used before the next eviction
from S, it goes to the ghost queue without ever reaching M.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from supreme.cache.policies.base import EvictionPolicy
from supreme.cache.policies.ordered import drop_from_either

__all__ = ["S3FIFO"]


class S3FIFO(EvictionPolicy):
    """S3-FIFO (SOSP 2023)."""

    name = "s3fifo"

    def __init__(self, capacity: int, small_ratio: float = 0.1, move_to_main_threshold: int = 2) -> None:
        super().__init__(capacity)
        if not 0.0 < small_ratio < 1.0:
            raise ValueError(f"small_ratio must be in (0, 1), got {small_ratio!r}")
        self._small_ratio = small_ratio
        self._threshold = move_to_main_threshold
        self._small: OrderedDict[Hashable, None] = OrderedDict()  # first = tail (oldest)
        self._main: OrderedDict[Hashable, None] = OrderedDict()
        self._ghost: OrderedDict[Hashable, int] = OrderedDict()
        self._freq: dict[Hashable, int] = {}
        self._s_small = self._s_main = self._s_ghost = 0
        self._has_evicted = False
        self._ghost_hit = False
        self._on_capacity()

    def _on_capacity(self) -> None:
        # the queue shares follow the capacity
        self.small_size = max(1, int(self._capacity * self._small_ratio))
        self.main_size = self._capacity - self.small_size
        self.ghost_size = self.main_size

    def queue_of(self, key: Hashable) -> str | None:
        """``"small"``, ``"main"``, ``"ghost"`` or None (for tests and the adaptive layer)."""
        if key in self._small:
            return "small"
        if key in self._main:
            return "main"
        return "ghost" if key in self._ghost else None

    def _on_hit(self, key: Hashable) -> None:
        self._freq[key] = min(self._freq[key] + 1, 3)

    def _admit(self, key: Hashable, size: int) -> bool:
        self._ghost_hit = key in self._ghost
        if self._ghost_hit:
            self._s_ghost -= self._ghost.pop(key)
        return True

    def _on_insert(self, key: Hashable, low_priority: bool) -> None:
        size = self._sizes[key]
        self._freq[key] = 0
        ghost_hit, self._ghost_hit = self._ghost_hit, False
        if not low_priority and (
            ghost_hit or (not self._has_evicted and self._s_small >= self.small_size)
        ):
            self._main[key] = None
            self._s_main += size
            return
        self._small[key] = None
        self._s_small += size
        if low_priority:
            self._small.move_to_end(key, last=False)

    def _to_ghost(self, key: Hashable, size: int) -> None:
        if size > self.ghost_size:
            return
        while self._s_ghost + size > self.ghost_size:
            self._s_ghost -= self._ghost.popitem(last=False)[1]
        self._ghost[key] = size
        self._s_ghost += size

    def _pop_victim(self) -> Hashable:
        self._has_evicted = True
        sizes = self._sizes
        if not (self._s_main > self.main_size or not self._small):
            while self._small:
                key = next(iter(self._small))
                del self._small[key]
                size = sizes[key]
                self._s_small -= size
                if self._freq[key] >= self._threshold:
                    self._main[key] = None
                    self._s_main += size
                    self._freq[key] = 0
                    continue
                self._to_ghost(key, size)
                del self._freq[key]
                return key
        while True:
            key = next(iter(self._main))
            f = self._freq[key]
            if f >= 1:
                self._main.move_to_end(key)
                self._freq[key] = min(f, 3) - 1
                continue
            del self._main[key]
            self._s_main -= sizes[key]
            del self._freq[key]
            return key

    def _on_remove(self, key: Hashable) -> None:
        del self._freq[key]
        self._s_small, self._s_main = drop_from_either(key, self._sizes[key], self._small, self._s_small,
                                                       self._main, self._s_main)
