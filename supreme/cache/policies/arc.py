"""ARC: Adaptive Replacement Cache.

Reference: Megiddo & Modha, "ARC: A Self-Tuning, Low Overhead Replacement
Cache", FAST 2003, Fig. 4.  T1 holds keys seen once recently, T2 keys seen at
least twice; B1/B2 are their ghost lists (keys only); ``p`` is the adaptive
target size of T1.

Pseudocode (c = capacity)::

    x in T1 or T2:  move x to MRU of T2                                   (case I)
    x in B1:       p = min(c, p + max(|B2|/|B1|, 1)); REPLACE(x); x -> MRU T2   (II)
    x in B2:       p = max(0, p - max(|B1|/|B2|, 1)); REPLACE(x); x -> MRU T2   (III)
    otherwise:                                                           (IV)
        if |T1|+|B1| = c: if |T1| < c: drop LRU of B1; REPLACE(x)
                          else: drop LRU of T1 (no ghost)
        elif |T1|+|T2|+|B1|+|B2| >= c:
            if that total = 2c: drop LRU of B2
            REPLACE(x)
        x -> MRU T1
    REPLACE(x): if |T1| >= 1 and (|T1| > p or (x in B2 and |T1| = p)):
                    move LRU of T1 to MRU of B1
                else: move LRU of T2 to MRU of B2

Mapping onto the shared get path: ghost hits and ghost trimming happen in
``_admit`` (called before room is made), REPLACE is ``_pop_victim``.
Departures: REPLACE runs only when room is needed (with unit sizes that is
exactly when the paper calls it: once B1 or B2 is non-empty the cache stays
full).  With byte sizes, list lengths are summed sizes, an extension the paper
does not cover.  A low-priority insert (prefetch) enters T1 at its LRU end.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from supreme.cache.policies.base import EvictionPolicy

__all__ = ["ARC"]


class ARC(EvictionPolicy):
    """Adaptive Replacement Cache (FAST 2003)."""

    name = "arc"

    def __init__(self, capacity: int) -> None:
        super().__init__(capacity)
        self._t1: OrderedDict[Hashable, int] = OrderedDict()  # first = LRU
        self._t2: OrderedDict[Hashable, int] = OrderedDict()
        self._b1: OrderedDict[Hashable, int] = OrderedDict()
        self._b2: OrderedDict[Hashable, int] = OrderedDict()
        self._s = {"t1": 0, "t2": 0, "b1": 0, "b2": 0}
        self.p = 0.0
        self._ghost_hit: str | None = None  # "b1"/"b2" for the key being inserted
        self._drop_t1 = False

    @property
    def ghosts(self) -> tuple[list[Hashable], list[Hashable]]:
        """Keys of B1 and B2, LRU first (for tests and the adaptive layer)."""
        return list(self._b1), list(self._b2)

    def _move(self, src: str, dst: str, key: Hashable, lru_end: bool = False) -> None:
        lists = {"t1": self._t1, "t2": self._t2, "b1": self._b1, "b2": self._b2}
        size = lists[src].pop(key)
        self._s[src] -= size
        lists[dst][key] = size
        if lru_end:
            lists[dst].move_to_end(key, last=False)
        self._s[dst] += size

    def _drop_lru(self, ghost: str) -> None:
        lst = self._b1 if ghost == "b1" else self._b2
        _, size = lst.popitem(last=False)
        self._s[ghost] -= size

    def _admit(self, key: Hashable, size: int) -> bool:
        s, c = self._s, self._capacity
        self._ghost_hit = None
        self._drop_t1 = False
        if key in self._b1:
            self.p = min(float(c), self.p + max(s["b2"] / s["b1"], 1.0))
            self._ghost_hit = "b1"
        elif key in self._b2:
            self.p = max(0.0, self.p - max(s["b1"] / s["b2"], 1.0))
            self._ghost_hit = "b2"
        elif s["t1"] + s["b1"] >= c:
            if s["t1"] < c:
                self._drop_lru("b1")
            else:
                self._drop_t1 = True
        elif s["t1"] + s["t2"] + s["b1"] + s["b2"] >= 2 * c and self._b2:
            self._drop_lru("b2")
        return True

    def _pop_victim(self) -> Hashable:
        s = self._s
        if self._drop_t1 and self._t1:
            self._drop_t1 = False
            key, size = self._t1.popitem(last=False)
            s["t1"] -= size
            return key
        t1_first = s["t1"] >= 1 and (s["t1"] > self.p or (self._ghost_hit == "b2" and s["t1"] == self.p))
        if (t1_first and self._t1) or not self._t2:
            key = next(iter(self._t1))
            self._move("t1", "b1", key)
        else:
            key = next(iter(self._t2))
            self._move("t2", "b2", key)
        # the directory holds at most 2c (the paper's invariant; only byte sizes can stretch it)
        while s["t1"] + s["t2"] + s["b1"] + s["b2"] > 2 * self._capacity and (self._b1 or self._b2):
            self._drop_lru("b2" if self._b2 else "b1")
        return key

    def _on_insert(self, key: Hashable, low_priority: bool) -> None:
        size = self._sizes[key]
        ghost = self._ghost_hit
        self._ghost_hit = None
        self._drop_t1 = False
        if ghost is not None and key in (self._b1 if ghost == "b1" else self._b2):
            self._move(ghost, "t2", key)
            self._s["t2"] += size - self._t2[key]  # the ghost remembered the old size
            self._t2[key] = size
            return
        self._t1[key] = size
        self._s["t1"] += size
        if low_priority:
            self._t1.move_to_end(key, last=False)

    def _on_hit(self, key: Hashable) -> None:
        if key in self._t1:
            self._move("t1", "t2", key)
        else:
            self._t2.move_to_end(key)

    def _on_remove(self, key: Hashable) -> None:
        for name, lst in (("t1", self._t1), ("t2", self._t2)):
            if key in lst:
                self._s[name] -= lst.pop(key)
                return
