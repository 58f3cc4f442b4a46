"""LRFU: evict the key with the smallest exponentially decayed reference count, with a ghost history.

Reference: Lee, Choi, Kim, Noh, Min, Cho & Kim, "LRFU: A Spectrum of Policies that Subsumes the
Least Recently Used and Least Frequently Used Policies", IEEE Trans. Computers 50(12), 2001.

Each key's *combined recency and frequency* (CRF) at time ``t`` (requests seen by the policy) is
``sum over its past references t_i of 2^(-(t - t_i) / h)`` with half-life ``h``: a long half-life
ranks by frequency (LFU), a short one by recency (LRU).  Every CRF decays by the same factor as
``t`` moves on, so the ranking never changes between references and needs no periodic aging: a key
is ranked by ``K = log2(sum 2^(t_i / h))``, updated on a reference at ``t`` as
``K <- log2(2^K + 2^(t / h))``, kept in a heap (lazy deletion), the smallest ``K`` evicted.

Pseudocode::

    hit:  t += 1; K[k] = logaddexp2(K[k], t / h)
    miss: while full: evict argmin K (its K goes to the ghost history, FIFO of ``history`` keys)
          t += 1; K[k] = logaddexp2(ghost.pop(k, -inf), t / h)

Departures from the paper:

* ``h = horizon x capacity`` by default, so one setting means the same thing at every cache size
  (the paper's lambda is ``1 / h``); the half-life is fixed at construction and kept on ``resize``.
* Evicted keys keep their ``K`` in a bounded FIFO ghost history (``history``, default one capacity):
  a key that was popular a moment ago comes back with its decayed count instead of starting at one
  reference, which is what makes a shifting popularity (bursts of one symbol, then another) cheap to
  follow.  The paper forgets a key on eviction (``history=0``).
* A low-priority insert (prefetch) counts as a reference made one half-life ago, so it ranks below a
  key referenced once just now and cannot flush keys with any recent use.
* Ties in ``K`` go to the key updated least recently.

The adaptive layer replays LRFU at several horizons (``"lrfu:2"``, ``"lrfu"`` = 8, ``"lrfu:32"``)
in its shadow bank, which is how it learns the half-life the current workload wants.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable
from typing import ClassVar

from supreme.cache.policies.base import EvictionPolicy, PolicyError

__all__ = ["DEFAULT_HORIZON", "LRFU", "logaddexp2"]

#: half-life in capacities when none is given: ranks by frequency over a few cache turnovers
DEFAULT_HORIZON = 8.0


def logaddexp2(a: float, b: float) -> float:
    """``log2(2^a + 2^b)`` without overflow (``-inf`` stands for an empty sum)."""
    if a < b:
        a, b = b, a
    if b == -math.inf:
        return a
    return a + math.log2(1.0 + 2.0 ** (b - a))


class LRFU(EvictionPolicy):
    """Least recently/frequently used: smallest exponentially decayed reference count goes first."""

    name = "lrfu"
    spec_param: ClassVar[str] = "horizon"

    def __init__(self, capacity: int, horizon: float = DEFAULT_HORIZON, *, half_life: float | None = None,
                 history: int | None = None) -> None:
        super().__init__(capacity)
        if half_life is None:
            if not (isinstance(horizon, (int, float)) and math.isfinite(horizon) and horizon > 0):
                raise PolicyError(f"LRFU horizon must be a positive number of capacities, got {horizon!r}")
            half_life = float(horizon) * capacity
        if not (isinstance(half_life, (int, float)) and math.isfinite(half_life) and half_life > 0):
            raise PolicyError(f"LRFU half-life must be a positive number of requests, got {half_life!r}")
        if history is None:
            history = capacity
        if not isinstance(history, int) or isinstance(history, bool) or history < 0:
            raise PolicyError(f"LRFU history must be an integer >= 0, got {history!r}")
        self.horizon = float(horizon)
        self.half_life = float(half_life)
        self.history = history
        self._lam = 1.0 / self.half_life
        self._t = 0  # requests seen (hits and admitted misses)
        self._seq = 0  # heap tie-break: a later update ranks after an earlier one with the same K
        self._entries: dict[Hashable, tuple[float, int]] = {}  # key -> (K, seq) of its live heap entry
        self._heap: list[tuple[float, int, Hashable]] = []
        self._ghost: dict[Hashable, float] = {}  # evicted key -> K, oldest first

    @property
    def spec(self) -> str:
        """Registry spelling that rebuilds this policy (``"lrfu"`` or ``"lrfu:<horizon>"``)."""
        if self.horizon == DEFAULT_HORIZON:
            return self.name
        return f"{self.name}:{self.horizon:g}"

    def score(self, key: Hashable) -> float:
        """Decayed reference count of a held key now (KeyError if absent)."""
        return float(2.0 ** (self._entries[key][0] - self._t * self._lam))

    def eviction_order(self) -> list[Hashable]:
        """Held keys, next victim first."""
        return sorted(self._entries, key=self._entries.__getitem__)

    def _push(self, key: Hashable, k: float) -> None:
        seq = self._seq
        self._seq = seq + 1
        entries = self._entries
        entries[key] = (k, seq)
        heap = self._heap
        heapq.heappush(heap, (k, seq, key))
        if len(heap) > 2 * len(entries) + 64:
            # drop superseded entries; the order is unchanged (entries are unique by seq)
            self._heap = [e for e in heap if entries.get(e[2]) == e[:2]]
            heapq.heapify(self._heap)

    def _on_hit(self, key: Hashable) -> None:
        self._t += 1
        self._push(key, logaddexp2(self._entries[key][0], self._t * self._lam))

    def _on_insert(self, key: Hashable, low_priority: bool) -> None:
        self._t += 1
        now = self._t * self._lam
        prev = self._ghost.pop(key, -math.inf)
        self._push(key, logaddexp2(prev, now - 1.0 if low_priority else now))

    def _pop_victim(self) -> Hashable:
        heap = self._heap
        entries = self._entries
        while True:
            k, seq, key = heapq.heappop(heap)
            live = entries.get(key)
            if live is not None and live[1] == seq:
                break
        del entries[key]
        if self.history:
            ghost = self._ghost
            ghost[key] = k
            if len(ghost) > self.history:
                del ghost[next(iter(ghost))]
        return key

    def _on_remove(self, key: Hashable) -> None:
        # removed from outside (deleted or invalidated): no history, its references are void
        del self._entries[key]
