"""SIEVE: a FIFO queue with a visited bit and a hand that sweeps from old to new.

Reference: Zhang, Yang, Yue, Vigfusson & Rashmi, "SIEVE is Simpler than LRU:
an Efficient Turn-Key Eviction Algorithm for Web Caches", NSDI 2024 (Fig. 2).

Pseudocode::

    hit:  visited[k] = 1
    miss: while full:
              o = hand or tail                       # tail = oldest
              while visited[o]: visited[o] = 0; o = o.prev or tail   # prev = towards head (newer)
              hand = o.prev; evict o
          push k at head with visited = 0

Unlike CLOCK, retained keys stay where they are; new keys always enter at the
head.  Departure: a low-priority insert (prefetch) enters unvisited at the tail
(oldest end), so the hand reaches it before any other unvisited key once it wraps.
"""

from __future__ import annotations

from collections.abc import Hashable

from supreme.cache.policies.refbit import ReferenceBitPolicy

__all__ = ["Sieve"]


class Sieve(ReferenceBitPolicy):
    """SIEVE (NSDI 2024)."""

    name = "sieve"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._bits: dict[Hashable, bool | None] = {}  # the visited bits
        self._newer: dict[Hashable, Hashable | None] = {}  # towards head
        self._older: dict[Hashable, Hashable | None] = {}  # towards tail
        self._head: Hashable | None = None
        self._tail: Hashable | None = None
        self._hand: Hashable | None = None

    def _on_insert(self, key: Hashable, low_priority: bool) -> None:
        self._bits[key] = False
        if self._head is None:
            self._head = self._tail = key
            self._newer[key] = self._older[key] = None
        elif low_priority:
            self._newer[key], self._older[key] = self._tail, None
            self._older[self._tail] = key
            self._tail = key
        else:
            self._newer[key], self._older[key] = None, self._head
            self._newer[self._head] = key
            self._head = key

    def _unlink(self, key: Hashable) -> None:
        newer, older = self._newer.pop(key), self._older.pop(key)
        if newer is None:
            self._head = older
        else:
            self._older[newer] = older
        if older is None:
            self._tail = newer
        else:
            self._newer[older] = newer
        del self._bits[key]

    def _pop_victim(self) -> Hashable:
        o = self._hand if self._hand is not None else self._tail
        while self._bits[o]:
            self._bits[o] = False
            o = self._newer[o]
            if o is None:
                o = self._tail
        self._hand = self._newer[o]
        self._unlink(o)
        return o

    def _on_remove(self, key: Hashable) -> None:
        if self._hand == key:
            self._hand = self._newer[key]
        self._unlink(key)
