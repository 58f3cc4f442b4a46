"""OPT: Belady's offline optimum (evict the key whose next access is farthest).

Reference: Belady, "A study of replacement algorithms for a virtual-storage
computer", IBM Systems Journal 5(2), 1966 (MIN); Mattson et al. 1970 (OPT).

Pseudocode (needs the future: ``next_access[t]`` is the position of the next
request for the key requested at position ``t``, or -1 if none)::

    request t for x:  prio[x] = next_access[t]   (never again: +inf)
        hit:  done
        miss: while full: evict argmax prio; insert x

Realisation: a max-heap with lazy deletion.  "Never again" gets ``n + t``
(unique, beyond every real position), so no two live keys tie and the Python
class and the compiled kernel evict the same key.  Each ``lookup`` is one
request and advances the virtual time; the policy must be driven by exactly
the trace it was built from.  Departures: the new key is always admitted
(demand paging, as libCacheSim's Belady.c), not bypassed when it is itself the
farthest; ``low_priority`` has no meaning for an offline policy and is ignored.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Sequence

import numpy as np

from supreme.cache.policies.base import EvictionPolicy, PolicyError

__all__ = ["OPT"]


class OPT(EvictionPolicy):
    """Belady's MIN/OPT, driven by a trace's next-access array."""

    name = "opt"

    def __init__(self, capacity: int, next_access: Sequence[int] | np.ndarray | None = None) -> None:
        super().__init__(capacity)
        if next_access is None:
            raise PolicyError("OPT needs the trace's next_access array (next_access=trace.next_access())")
        self._next = np.asarray(next_access, dtype=np.int64)
        self._n = len(self._next)
        self._t = -1
        self._prio: dict[Hashable, int] = {}
        self._heap: list[tuple[int, int, Hashable]] = []
        self._seq = 0

    def _prio_at(self, t: int) -> int:
        nxt = int(self._next[t])
        return nxt if nxt >= 0 else self._n + t

    def _push(self, key: Hashable) -> None:
        p = self._prio_at(self._t)
        self._prio[key] = p
        self._seq += 1
        heapq.heappush(self._heap, (-p, self._seq, key))

    def lookup(self, key: Hashable) -> bool:
        """One request: advance virtual time, then look ``key`` up."""
        if self._t + 1 >= self._n:
            raise PolicyError(f"OPT was driven past the end of its {self._n}-request trace")
        self._t += 1
        return super().lookup(key)

    def _on_hit(self, key: Hashable) -> None:
        self._push(key)

    def _on_insert(self, key: Hashable, low_priority: bool) -> None:
        self._push(key)

    def _pop_victim(self) -> Hashable:
        while True:
            negp, _, key = heapq.heappop(self._heap)
            if self._prio.get(key) == -negp and key in self._sizes:
                del self._prio[key]
                return key

    def _on_remove(self, key: Hashable) -> None:
        del self._prio[key]
