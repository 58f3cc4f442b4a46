"""LRU: evict the least recently used key.

Reference: the classic stack algorithm; Mattson, Gecsei, Slutz & Traiger,
"Evaluation techniques for storage hierarchies", IBM Systems Journal 9(2), 1970.

Pseudocode: on a hit move the key to the MRU end; on a miss insert at the MRU
end, evicting from the LRU end until it fits.  Departure: a low-priority insert
(prefetch) enters at the LRU end, so an unused prefetch is the next victim.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence

from supreme.cache.policies.ordered import OrderedPolicy

__all__ = ["LRU"]


class LRU(OrderedPolicy):
    """Least recently used (the first key of the order is the LRU one)."""

    name = "lru"

    def _on_hit(self, key: Hashable) -> None:
        self._order.move_to_end(key)

    def _on_hits(self, keys: Sequence[Hashable]) -> None:
        move = self._order.move_to_end
        try:
            # map + zero-length deque runs the moves in C: about half the cost of a Python loop
            deque(map(move, keys), maxlen=0)
        except KeyError:
            # a key left between its hit and this drain (another thread deleted it).  Replaying the
            # whole batch is exact: a sequence of moves-to-end applied twice leaves the same order.
            held = self._sizes
            for key in keys:
                if key in held:
                    move(key)
