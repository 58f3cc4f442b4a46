"""LRFU that keeps every key's score at several half-lives, so its half-life can change in place, exactly.

Why: the adaptive layer learns the half-life a workload wants by replaying LRFU at horizons 2..32 in
shadow caches.  Moving the live cache from one horizon to another used to be a warm switch: a new
policy relearning scores from a replayed tail (0-0.5 misses per slot), or an in-place change of the
decay rate, which keeps the *old* horizon's scores (a hot set that moved away keeps ranking high
under a short half-life until it decays at the new rate).  Neither is what the shadow measured.

This class keeps, for every resident and ghost key, its decayed reference count at each tracked
half-life ``h_j`` (the same multiply-and-add form as :class:`~supreme.cache.policies.lrfu.LRFU`, one
weight ``w_j`` per half-life).  Eviction ranks by the active one; :meth:`retune` makes another
tracked horizon active and re-heaps: the residents are ranked exactly as static LRFU at that horizon
would rank them, given the same reference history.  Only the resident set differs from that static
run (it was chosen under the previous horizon) — the one thing a switch cannot undo for free.

Weights are computed when a key is referenced, ``w_j = 2^(t/h_j - o_j)`` from the request count ``t``,
not advanced every request; when the shortest half-life's exponent passes 64 every horizon's offset
``o_j`` moves on by a whole power of two and the stored scores are scaled by it (exact, as in LRFU).
Scores are tuples, not lists: a cache of 100,000 keys holding 200,000 mutable lists made CPython's
cyclic garbage collector traverse them all again and again (3 µs per request at that size).

Cost: a few pow/add per tracked horizon per reference (five horizons: 1-2 µs more than LRFU per
request in CPython), and ``O(C)`` per retune.  Decisions are identical to :class:`LRFU` at the
active horizon while it is not retuned (tested).
"""

from __future__ import annotations

import heapq
import math
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from operator import add, mul

from supreme.cache.policies.base import PolicyError
from supreme.cache.policies.lrfu import _RESCALE_AT, DEFAULT_HORIZON, LRFU, fifo_put, weight_step

__all__ = ["TrackedLRFU"]


class TrackedLRFU(LRFU):
    """LRFU ranking by one of several tracked horizons; :meth:`retune` moves between them exactly."""

    def __init__(self, capacity: int, horizon: float = DEFAULT_HORIZON, *, track: Sequence[float] = (),
                 history: int | None = None) -> None:
        super().__init__(capacity, horizon, history=history)
        horizons = sorted({float(horizon), *(self._check_horizon(h) for h in track)})
        self.tracked: tuple[float, ...] = tuple(horizons)
        self._i = horizons.index(float(horizon))
        self._steps = tuple(weight_step(h * capacity) for h in horizons)
        self._ws: tuple[float, ...] = (1.0,) * len(horizons)
        self._vec: dict[Hashable, tuple[float, ...]] = {}  # resident key -> its A at every tracked horizon
        self._ghost_vec: OrderedDict[Hashable, tuple[float, ...]] = OrderedDict()  # evicted, oldest first

    @staticmethod
    def _check_horizon(h: float) -> float:
        if not (isinstance(h, (int, float)) and not isinstance(h, bool) and math.isfinite(h) and h > 0):
            raise PolicyError(f"LRFU tracked horizon must be a positive number of capacities, got {h!r}")
        return float(h)

    def retune(self, spec: str) -> bool:
        """Rank by the tracked horizon ``spec`` names (``"lrfu:16"``) from now on; False if untracked."""
        from supreme.cache.policies.registry import split_spec

        base, kwargs = split_spec(spec)
        if base != self.name:
            return False
        horizon = float(kwargs.get("horizon", DEFAULT_HORIZON))
        if horizon not in self.tracked:
            return False
        i = self.tracked.index(horizon)
        if i != self._i:
            self._i = i
            self.horizon = horizon
            self.half_life = horizon * self.capacity
            self._step = self._steps[i]
            self._w = self._ws[i]
            self._reheap()
        return True

    def _reheap(self) -> None:
        # keep each key's update order (seq) so ties still go to the least recently updated key
        i = self._i
        vec = self._vec
        self._entries = {k: (vec[k][i], seq) for k, (_, seq) in self._entries.items()}
        self._heap = [(a, seq, k) for k, (a, seq) in self._entries.items()]
        heapq.heapify(self._heap)

    def _tick(self) -> float:
        ws = self._ws = tuple(map(mul, self._ws, self._steps))
        if ws[0] > _RESCALE_AT:  # the shortest half-life's weight grows fastest
            self._rescale()
            ws = self._ws
        self._w = w = ws[self._i]
        return w

    def _rescale(self) -> None:
        # powers of two: exact in binary floating point, so every order is kept
        scale = tuple(2.0 ** -math.frexp(w)[1] if w > _RESCALE_AT else 1.0 for w in self._ws)
        self._ws = tuple(map(mul, self._ws, scale))
        self._vec = {k: tuple(map(mul, v, scale)) for k, v in self._vec.items()}
        self._ghost_vec = OrderedDict((k, tuple(map(mul, v, scale))) for k, v in self._ghost_vec.items())
        self._reheap()

    def _on_hit(self, key: Hashable) -> None:
        self._tick()
        v = self._vec[key] = tuple(map(add, self._vec[key], self._ws))
        self._push(key, v[self._i])

    def _on_insert(self, key: Hashable, low_priority: bool) -> None:
        self._tick()
        w = tuple([x * 0.5 for x in self._ws]) if low_priority else self._ws
        old = self._ghost_vec.pop(key, None)
        v = self._vec[key] = w if old is None else tuple(map(add, old, w))
        self._push(key, v[self._i])

    def _remember(self, key: Hashable, a: float) -> None:
        v = self._vec.pop(key)  # every horizon's score goes to the history, not just the active one
        if self.history:
            fifo_put(self._ghost_vec, key, v, self.history)

    def _on_remove(self, key: Hashable) -> None:
        del self._entries[key]
        del self._vec[key]
