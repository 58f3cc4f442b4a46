"""FIFO: evict the key that entered first.

Reference: Belady, "A study of replacement algorithms for a virtual-storage
computer", IBM Systems Journal 5(2), 1966 (FIFO as a baseline).

Pseudocode::

    hit:  nothing
    miss: while full: evict queue tail (oldest); push key at head

Departure: a low-priority insert (prefetch) enters at the eviction end, so an
unused prefetch is the next victim.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence

from supreme.cache.policies.base import EvictionPolicy

__all__ = ["FIFO"]


class FIFO(EvictionPolicy):
    """First in, first out; hits change nothing."""

    name = "fifo"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._order: OrderedDict[Hashable, None] = OrderedDict()

    def _on_hit(self, key: Hashable) -> None:
        pass

    def _on_hits(self, keys: Sequence[Hashable]) -> None:
        pass  # hits change nothing, so a buffered batch costs nothing either

    def _on_insert(self, key: Hashable, low_priority: bool) -> None:
        self._order[key] = None
        if low_priority:
            self._order.move_to_end(key, last=False)

    def _pop_victim(self) -> Hashable:
        return self._order.popitem(last=False)[0]

    def _on_remove(self, key: Hashable) -> None:
        del self._order[key]
