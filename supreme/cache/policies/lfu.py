"""LFU with O(1) frequency lists and an LRU tie-break.

Reference: Shah, Mitra & Matani, "An O(1) algorithm for implementing the LFU
cache eviction scheme" (2010): a list of frequency buckets, each a list of keys.

Pseudocode::

    hit:  freq[k] += 1; move k from bucket f to the MRU end of bucket f+1
    miss: while full: evict the LRU key of the lowest non-empty bucket
          freq[k] = 1; append k to bucket 1 (MRU end); min_freq = 1

Tie-break: among keys of equal frequency the least recently *used* one goes
(a hit moves a key to the MRU end of its new bucket), as libCacheSim's LFU.c.
Frequencies are forgotten on eviction (no aging).  Departure: a low-priority
insert (prefetch) enters bucket 1 at its LRU end, so it is the next victim.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from supreme.cache.policies.base import EvictionPolicy

__all__ = ["LFU"]


class LFU(EvictionPolicy):
    """Least frequently used, LRU among equal frequency."""

    name = "lfu"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._freq: dict[Hashable, int] = {}
        self._buckets: dict[int, OrderedDict[Hashable, None]] = {}
        self._min = 1

    def frequency(self, key: Hashable) -> int:
        """Access count of a held key (KeyError if absent)."""
        return self._freq[key]

    def _on_hit(self, key: Hashable) -> None:
        f = self._freq[key]
        bucket = self._buckets[f]
        del bucket[key]
        if not bucket:
            del self._buckets[f]
            if self._min == f:
                self._min = f + 1
        self._freq[key] = f + 1
        self._buckets.setdefault(f + 1, OrderedDict())[key] = None

    def _on_insert(self, key: Hashable, low_priority: bool) -> None:
        self._freq[key] = 1
        bucket = self._buckets.setdefault(1, OrderedDict())
        bucket[key] = None
        if low_priority:
            bucket.move_to_end(key, last=False)
        self._min = 1

    def _pop_victim(self) -> Hashable:
        if self._min not in self._buckets:
            self._min = min(self._buckets)
        bucket = self._buckets[self._min]
        key = bucket.popitem(last=False)[0]
        if not bucket:
            del self._buckets[self._min]
        del self._freq[key]
        return key

    def _on_remove(self, key: Hashable) -> None:
        f = self._freq.pop(key)
        bucket = self._buckets[f]
        del bucket[key]
        if not bucket:
            del self._buckets[f]
