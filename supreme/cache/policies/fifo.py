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

from collections.abc import Hashable, Sequence

from supreme.cache.policies.ordered import OrderedPolicy

__all__ = ["FIFO"]


class FIFO(OrderedPolicy):
    """First in, first out; hits change nothing."""

    name = "fifo"

    def _on_hit(self, key: Hashable) -> None:
        pass

    def _on_hits(self, keys: Sequence[Hashable]) -> None:
        pass  # hits change nothing, so a buffered batch costs nothing either
