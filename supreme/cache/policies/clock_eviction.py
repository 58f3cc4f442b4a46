"""CLOCK: second chance with one reference bit.

Reference: Corbató, "A paging experiment with the Multics system" (MIT, 1968);
the one-bit CLOCK as in libCacheSim's Clock.c (``n-bit-counter=1, init-freq=0``).

Pseudocode::

    hit:  ref[k] = 1
    miss: while full:
              v = key under the hand (the oldest)
              if ref[v]: ref[v] = 0; advance the hand past v   (second chance)
              else: evict v
          insert k behind the hand with ref[k] = 0

The circular buffer with a hand is modelled as a FIFO queue whose head is the
hand: giving a key its second chance moves it to the tail, which is the same
order a rotating hand visits.  Departure: a low-priority insert (prefetch)
enters with ref 0 under the hand, so it is the next victim unless used.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence

from supreme.cache.policies.base import EvictionPolicy

__all__ = ["Clock"]


class Clock(EvictionPolicy):
    """One-bit CLOCK (second chance)."""

    name = "clock"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._ring: OrderedDict[Hashable, bool] = OrderedDict()  # first item is under the hand

    def _on_hit(self, key: Hashable) -> None:
        self._ring[key] = True

    def _on_hits(self, keys: Sequence[Hashable]) -> None:
        # setting a bit is idempotent and moves nothing: one C-level update for the whole batch
        self._ring.update(dict.fromkeys(filter(self._sizes.__contains__, keys), True))

    def _on_insert(self, key: Hashable, low_priority: bool) -> None:
        self._ring[key] = False
        if low_priority:
            self._ring.move_to_end(key, last=False)

    def _pop_victim(self) -> Hashable:
        ring = self._ring
        while True:
            key, ref = ring.popitem(last=False)
            if not ref:
                return key
            ring[key] = False

    def _on_remove(self, key: Hashable) -> None:
        del self._ring[key]
