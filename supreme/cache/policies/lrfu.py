"""LRFU: evict the key with the smallest exponentially decayed reference count, with a ghost history.

Reference: Lee, Choi, Kim, Noh, Min, Cho & Kim, "LRFU: A Spectrum of Policies that Subsumes the
Least Recently Used and Least Frequently Used Policies", IEEE Trans. Computers 50(12), 2001.

Each key's *combined recency and frequency* (CRF) at time ``t`` (requests seen by the policy) is
``sum over its past references t_i of 2^(-(t - t_i) / h)`` with half-life ``h``: a long half-life
ranks by frequency (LFU), a short one by recency (LRU).  Every CRF decays by the same factor as
``t`` moves on, so the ranking never changes between references and needs no periodic aging: a key
is ranked by ``A = sum 2^((t_i - t0) / h)``, which a reference at ``t`` increases by the weight
``w = 2^((t - t0) / h)``, kept in a heap (lazy deletion), the smallest ``A`` evicted.  ``w`` grows by
the factor ``2^(1/h)`` per request; when it passes ``2^64``, ``w`` and every stored ``A`` are scaled by
the power of two that brings ``w`` below 1 (``t0`` moves on): exact in binary floating point, so the
order is kept (scores that underflow to 0 tie, and ties go to the least recently updated key).  This
costs a multiply and an add per request where the log-domain form costs a ``log2`` and a ``pow``.

Pseudocode::

    every request: w *= 2^(1/h)   (and the rescaling above)
    hit:  A[k] += w
    miss: while full: evict argmin A (its A goes to the ghost history, FIFO of ``history`` keys)
          A[k] = ghost.pop(k, 0) + w

Departures from the paper:

* ``h = horizon x capacity`` by default, so one setting means the same thing at every cache size
  (the paper's lambda is ``1 / h``); the half-life is fixed at construction and kept on ``resize``.
* Evicted keys keep their ``K`` in a bounded FIFO ghost history (``history``, default one capacity):
  a key that was popular a moment ago comes back with its decayed count instead of starting at one
  reference, which is what makes a shifting popularity (bursts of one symbol, then another) cheap to
  follow.  The paper forgets a key on eviction (``history=0``).
* A low-priority insert (prefetch) counts as a reference made one half-life ago (``w / 2``), so it
  ranks below a key referenced once just now and cannot flush keys with any recent use.
* Ties in ``A`` go to the key updated least recently.

The adaptive layer replays LRFU at several horizons (``"lrfu:2"``, ``"lrfu"`` = 8, ``"lrfu:32"``)
in its shadow bank, which is how it learns the half-life the current workload wants.
"""

from __future__ import annotations

import heapq
import math
from collections import OrderedDict
from collections.abc import Hashable
from typing import ClassVar, TypeVar

from supreme.cache.policies.base import EvictionPolicy, PolicyError

__all__ = ["DEFAULT_HORIZON", "LRFU", "MIN_HALF_LIFE", "fifo_put", "weight_step"]

V = TypeVar("V")

#: half-life in capacities when none is given: ranks by frequency over a few cache turnovers
DEFAULT_HORIZON = 8.0

_RESCALE_AT = 2.0**64  # when the weight of a reference passes this, everything is scaled back
#: below this half-life a reference's weight step would overflow; LRFU is plain LRU there anyway
MIN_HALF_LIFE = 1e-3


def fifo_put(fifo: OrderedDict[Hashable, V], key: Hashable, value: V, limit: int) -> None:
    """Append ``key`` to a bounded FIFO history, dropping the oldest past ``limit``."""
    fifo[key] = value
    if len(fifo) > limit:
        fifo.popitem(last=False)


def weight_step(half_life: float) -> float:
    """Factor by which a new reference's weight grows per request (``2^(1/h)``; the kernel uses it too)."""
    return float(2.0 ** (1.0 / half_life))


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
        ok = isinstance(half_life, (int, float)) and math.isfinite(half_life) and half_life >= MIN_HALF_LIFE
        if not ok:
            raise PolicyError(f"LRFU half-life must be >= {MIN_HALF_LIFE} requests, got {half_life!r}")
        if history is None:
            history = capacity
        if not isinstance(history, int) or isinstance(history, bool) or history < 0:
            raise PolicyError(f"LRFU history must be an integer >= 0, got {history!r}")
        self.horizon = float(horizon)
        self.half_life = float(half_life)
        self.history = history
        self._step = weight_step(self.half_life)
        self._w = 1.0  # weight of a reference made now
        self._seq = 0  # heap tie-break: a later update ranks after an earlier one with the same A
        self._entries: dict[Hashable, tuple[float, int]] = {}  # key -> (A, seq) of its live heap entry
        self._heap: list[tuple[float, int, Hashable]] = []
        # evicted key -> A, oldest first; an OrderedDict because a plain dict used as a FIFO makes
        # next(iter(d)) skip every slot deleted since its last resize (3 µs per eviction at 10,000)
        self._ghost: OrderedDict[Hashable, float] = OrderedDict()

    @property
    def spec(self) -> str:
        """Registry spelling that rebuilds this policy (``"lrfu"`` or ``"lrfu:<horizon>"``)."""
        if self.horizon == DEFAULT_HORIZON:
            return self.name
        return f"{self.name}:{self.horizon:g}"

    def score(self, key: Hashable) -> float:
        """Decayed reference count of a held key now (KeyError if absent)."""
        return self._entries[key][0] / self._w

    def eviction_order(self) -> list[Hashable]:
        """Held keys, next victim first."""
        return sorted(self._entries, key=self._entries.__getitem__)

    def _tick(self) -> float:
        """One request later: the weight of a new reference (rescaling everything past 2^64)."""
        w = self._w * self._step
        if w > _RESCALE_AT:
            scale = 2.0 ** -math.frexp(w)[1]  # brings w into [0.5, 1)
            w *= scale
            self._entries = {k: (a * scale, seq) for k, (a, seq) in self._entries.items()}
            self._heap = [(a, seq, k) for k, (a, seq) in self._entries.items()]
            heapq.heapify(self._heap)
            self._ghost = OrderedDict((k, a * scale) for k, a in self._ghost.items())
        self._w = w
        return w

    def _push(self, key: Hashable, a: float) -> None:
        seq = self._seq
        self._seq = seq + 1
        entries = self._entries
        entries[key] = (a, seq)
        heap = self._heap
        heapq.heappush(heap, (a, seq, key))
        if len(heap) > 2 * len(entries) + 64:
            # drop superseded entries; the order is unchanged (entries are unique by seq)
            self._heap = [e for e in heap if entries.get(e[2]) == e[:2]]
            heapq.heapify(self._heap)

    def _on_hit(self, key: Hashable) -> None:
        w = self._tick()
        self._push(key, self._entries[key][0] + w)

    def _on_insert(self, key: Hashable, low_priority: bool) -> None:
        w = self._tick()
        self._push(key, self._ghost.pop(key, 0.0) + (w * 0.5 if low_priority else w))

    def _pop_victim(self) -> Hashable:
        heap = self._heap
        entries = self._entries
        while True:  # lazy deletion: skip heap entries superseded by a later update
            k, seq, key = heapq.heappop(heap)
            live = entries.get(key)
            if live is not None and live[1] == seq:
                break
        del entries[key]
        self._remember(key, k)
        return key

    def _remember(self, key: Hashable, a: float) -> None:
        """An evicted key's ``A`` joins the ghost history (FIFO of ``history`` keys)."""
        if self.history:
            fifo_put(self._ghost, key, a, self.history)

    def _on_remove(self, key: Hashable) -> None:
        # removed from outside (deleted or invalidated): no history, its references are void
        del self._entries[key]
