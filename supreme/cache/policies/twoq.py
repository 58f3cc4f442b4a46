"""2Q: a FIFO for first-time keys, an LRU for keys seen again, and a ghost FIFO that tells them apart.

Reference: Johnson & Shasha, "2Q: A Low Overhead High Performance Buffer Management Replacement
Algorithm", VLDB 1994 (the "full version", with ``Kin`` and ``Kout``).

Pseudocode::

    hit in Am:   move to Am's MRU end          hit in A1in: nothing (a correlated re-reference)
    miss:        key in A1out (ghost)? -> forget the ghost, insert into Am
                 else                  -> insert into A1in
    evict:       A1in holds more than Kin (or Am is empty) -> A1in's oldest, remembered in A1out
                 else                                     -> Am's LRU key (not remembered)
    A1out keeps at most Kout units of keys (oldest ghosts dropped)

``Kin = 25 %`` and ``Kout = 50 %`` of the capacity (the paper's recommendation, libCacheSim's
``TwoQ`` defaults).  Departures: sizes count in the capacity's unit (bytes too); a ghost is kept
only if its size fits in ``Kout``; a low-priority insert (prefetch) enters its queue at the eviction
end.  ``in_ratio`` is the spec parameter (``"twoq:0.3"``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from supreme.cache.policies.base import EvictionPolicy, PolicyError

__all__ = ["TwoQ"]


class TwoQ(EvictionPolicy):
    """2Q (full version): A1in FIFO, Am LRU, A1out ghost FIFO."""

    name = "twoq"
    spec_param = "in_ratio"

    def __init__(self, capacity: int, in_ratio: float = 0.25, out_ratio: float = 0.5) -> None:
        super().__init__(capacity)
        if not (0.0 < in_ratio < 1.0 and out_ratio > 0.0):
            raise PolicyError(f"2Q needs 0 < in_ratio < 1 and out_ratio > 0, got {in_ratio}, {out_ratio}")
        self._in_ratio, self._out_ratio = float(in_ratio), float(out_ratio)
        self._a1in: OrderedDict[Hashable, int] = OrderedDict()  # key -> size, oldest first
        self._am: OrderedDict[Hashable, int] = OrderedDict()  # key -> size, LRU first
        self._a1out: OrderedDict[Hashable, int] = OrderedDict()  # ghost keys -> size, oldest first
        self._in_used = self._out_used = 0
        self._ghost_hit = False
        self._on_capacity()

    @property
    def spec(self) -> str:
        """``twoq`` or ``twoq:<in_ratio>``."""
        return self.name if self._in_ratio == 0.25 else f"{self.name}:{self._in_ratio:g}"

    def _on_capacity(self) -> None:
        self._kin = max(1, int(self._capacity * self._in_ratio))
        self._kout = max(1, int(self._capacity * self._out_ratio))

    def _on_hit(self, key: Hashable) -> None:
        if key in self._am:
            self._am.move_to_end(key)

    def _admit(self, key: Hashable, size: int) -> bool:
        # decided before room is made: a ghost hit goes to Am (the kernel's on_miss)
        self._ghost_hit = key in self._a1out
        if self._ghost_hit:
            self._out_used -= self._a1out.pop(key)
        return True

    def _on_insert(self, key: Hashable, low_priority: bool) -> None:
        size = self._sizes[key]
        queue = self._am if self._ghost_hit else self._a1in
        self._ghost_hit = False
        queue[key] = size
        if queue is self._a1in:
            self._in_used += size
        if low_priority:
            queue.move_to_end(key, last=False)

    def _pop_victim(self) -> Hashable:
        if self._a1in and (self._in_used > self._kin or not self._am):
            key, size = self._a1in.popitem(last=False)
            self._in_used -= size
            self._remember(key, size)
            return key
        return self._am.popitem(last=False)[0]

    def _remember(self, key: Hashable, size: int) -> None:
        if size > self._kout:
            return
        while self._out_used + size > self._kout:
            self._out_used -= self._a1out.popitem(last=False)[1]
        self._a1out[key] = size
        self._out_used += size

    def _on_remove(self, key: Hashable) -> None:
        if key in self._a1in:
            self._in_used -= self._a1in.pop(key)
        else:
            del self._am[key]
