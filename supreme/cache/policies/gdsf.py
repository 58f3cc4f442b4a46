"""GDSF: Greedy-Dual-Size-Frequency, the byte-aware policy of web proxies.

Reference: Cherkasova, "Improving WWW Proxies Performance with Greedy-Dual-Size-Frequency Caching
Policy", HP Labs report HPL-98-69R1, 1998 (after Cao & Irani's GreedyDual-Size, USITS 1997).

Pseudocode::

    priority(key) = L + frequency(key) * 1e6 / size(key)      (cost 1 per object: the hit-ratio variant)
    hit:     frequency += 1, priority recomputed with the current L
    miss:    insert with frequency 1, THEN evict the lowest priority until the cache fits
             (the new key competes, so a large cold key can be its own victim)
    evict:   L = the victim's priority (the "inflation" that ages keys not touched since)

Ties on priority go to the key touched longest ago (FIFO), as in libCacheSim's ``GDSF.cpp``
(``abstractRank``), whose arithmetic (``L + freq * 1e6 / size`` in doubles) this follows, so the
two agree request for request on object and byte capacities (tested on cloudPhysicsIO).
Departures: a low-priority insert (prefetch) gets priority ``L``, so an unused prefetch goes
first; a re-sized key keeps the priority computed from its old size until its next hit.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable

from supreme.cache.policies.base import EvictionPolicy, PolicyError

__all__ = ["GDSF"]


class GDSF(EvictionPolicy):
    """Greedy-Dual-Size-Frequency with libCacheSim's insert-then-evict order."""

    name = "gdsf"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._inflation = 0.0  # L: the priority of the last victim
        self._freq: dict[Hashable, int] = {}
        self._entry: dict[Hashable, tuple[float, int]] = {}  # key -> its live (priority, tick)
        self._heap: list[tuple[float, int, Hashable]] = []  # may hold stale entries (lazy deletion)
        self._tick = 0

    @property
    def inflation(self) -> float:
        """``L``, the priority of the last evicted key (0 before the first eviction)."""
        return self._inflation

    def priority(self, key: Hashable) -> float:
        """Current priority of a held key (KeyError if absent)."""
        return self._entry[key][0]

    def insert(self, key: Hashable, size: int = 1, low_priority: bool = False) -> list[Hashable]:
        """Admit ``key`` first, then evict the lowest priorities until it fits (``key`` may be one)."""
        if size <= 0:
            raise PolicyError(f"object size must be positive, got {size!r}")
        if key in self._sizes or size > self._capacity:
            return super().insert(key, size, low_priority)
        self._sizes[key] = size
        self._used += size
        self._on_insert(key, low_priority)
        return self._shrink_to(self._capacity)

    def _push(self, key: Hashable, priority: float) -> None:
        self._tick += 1
        self._entry[key] = (priority, self._tick)
        heapq.heappush(self._heap, (priority, self._tick, key))
        if len(self._heap) > 2 * len(self._entry) + 64:  # drop stale entries: memory stays O(held)
            self._heap = [(p, t, k) for k, (p, t) in self._entry.items()]
            heapq.heapify(self._heap)

    def _on_hit(self, key: Hashable) -> None:
        freq = self._freq[key] + 1
        self._freq[key] = freq
        self._push(key, self._inflation + freq * 1.0e6 / self._sizes[key])

    def _on_insert(self, key: Hashable, low_priority: bool) -> None:
        self._freq[key] = 1
        self._push(key, self._inflation if low_priority else self._inflation + 1.0e6 / self._sizes[key])

    def _pop_victim(self) -> Hashable:
        heap, entry = self._heap, self._entry
        while True:
            priority, tick, key = heapq.heappop(heap)
            if entry.get(key) == (priority, tick):
                break
        del entry[key], self._freq[key]
        self._inflation = priority
        return key

    def _on_remove(self, key: Hashable) -> None:
        del self._entry[key], self._freq[key]  # its heap entry is now stale
