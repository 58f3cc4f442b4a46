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

from collections.abc import Hashable

from supreme.cache.policies.ordered import OrderedPolicy
from supreme.cache.policies.refbit import ReferenceBitPolicy

__all__ = ["Clock"]


class Clock(ReferenceBitPolicy, OrderedPolicy):
    """One-bit CLOCK (second chance): the ordered queue is the ring, its values the reference bits."""

    name = "clock"
    _fresh = False  # a new key enters with its bit clear

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._bits = self._order  # first item is under the hand

    def _pop_victim(self) -> Hashable:
        ring = self._order
        while True:
            key, ref = ring.popitem(last=False)
            if not ref:
                return key
            ring[key] = False
