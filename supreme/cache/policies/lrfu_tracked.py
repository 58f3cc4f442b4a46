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

Only the active horizon's scores are kept per request, by LRFU's own code, so every decision is
LRFU's.  Each request also appends one integer to a buffer (the key's row and what the request did);
the scores at every tracked horizon are brought up to date from that buffer in one compiled pass
(:mod:`supreme.cache.policies._lrfu_scores`) when a retune needs them or the buffer fills, with the
same multiply-and-add per request as LRFU itself (so the same floating-point values).  Keeping the
vectors per request in Python (a tuple per key, five multiplies and adds per request) cost 0.6-1.5 µs
per request more than LRFU; the buffer costs one append.

Cost: LRFU's per request plus a dict lookup and an append, ``O(C)`` per retune.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections import OrderedDict
from collections.abc import Hashable, Sequence

import numpy as np

from supreme.cache.policies._lrfu_scores import ADD, ADD_HALF, SET, SET_HALF, apply_references
from supreme.cache.policies.base import PolicyError
from supreme.cache.policies.lrfu import _RESCALE_AT, DEFAULT_HORIZON, LRFU, weight_step

__all__ = ["TrackedLRFU"]


_FLUSH_AT = 1 << 14  # buffered requests applied at once (bounded memory; the pass is cheap)


class TrackedLRFU(LRFU):
    """LRFU ranking by one of several tracked horizons; :meth:`retune` moves between them exactly."""

    def __init__(self, capacity: int, horizon: float = DEFAULT_HORIZON, *, track: Sequence[float] = (),
                 history: int | None = None) -> None:
        super().__init__(capacity, horizon, history=history)
        horizons = sorted({float(horizon), *(self._check_horizon(h) for h in track)})
        self.tracked: tuple[float, ...] = tuple(horizons)
        self._i = horizons.index(float(horizon))
        self._steps = np.array([weight_step(h * capacity) for h in horizons])
        self._ws = np.ones(len(horizons))  # every horizon's reference weight, as of the applied buffer
        self._scores = np.zeros((64, len(horizons)))  # row -> a key's score at every horizon
        self._rows: dict[Hashable, int] = {}  # resident or remembered (ghost) key -> its row
        self._free: list[int] = []
        self._pending = array("q")  # row * 4 + kind per request, not yet applied to _scores

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
            self._apply()
            self._i = i
            self.horizon = horizon
            self.half_life = horizon * self.capacity
            self._step = float(self._steps[i])
            self._w = float(self._ws[i])
            # keep each key's update order (seq) so ties still go to the least recently updated key
            col = self._scores[:, i].tolist()
            rows = self._rows
            self._entries = {k: (col[rows[k]], seq) for k, (_, seq) in self._entries.items()}
            self._heap = [(a, seq, k) for k, (a, seq) in self._entries.items()]
            heapq.heapify(self._heap)
            self._ghost = OrderedDict((k, col[rows[k]]) for k in self._ghost)
        return True

    def _apply(self) -> None:
        """Bring every tracked score up to date with the buffered requests."""
        if self._pending:
            apply_references(np.frombuffer(self._pending, dtype=np.int64).copy(), self._scores, self._ws,
                             self._steps, _RESCALE_AT)
            del self._pending[:]

    def _new_row(self, key: Hashable) -> int:
        if self._free:
            row = self._free.pop()
        else:
            row = len(self._rows)
            if row >= len(self._scores):
                self._scores = np.concatenate([self._scores, np.zeros_like(self._scores)])
        self._rows[key] = row
        return row

    # the two hooks below are LRFU's (inlined: this is the per-request path) plus one buffered code
    def _on_hit(self, key: Hashable) -> None:
        w = self._tick()
        self._push(key, self._entries[key][0] + w)
        pending = self._pending
        pending.append(self._rows[key] << 2)
        if len(pending) >= _FLUSH_AT:
            self._apply()

    def _on_insert(self, key: Hashable, low_priority: bool) -> None:
        w = self._tick()
        self._push(key, self._ghost.pop(key, 0.0) + (w * 0.5 if low_priority else w))
        row = self._rows.get(key)  # a key with a row and no entry was remembered: it adds to its score
        pending = self._pending
        if row is None:
            pending.append((self._new_row(key) << 2) | (SET_HALF if low_priority else SET))
        else:
            pending.append((row << 2) | (ADD_HALF if low_priority else ADD))
        if len(pending) >= _FLUSH_AT:
            self._apply()

    def _remember(self, key: Hashable, a: float) -> None:
        ghost = self._ghost
        if not self.history:
            self._free.append(self._rows.pop(key))
            return
        ghost[key] = a  # every horizon's score stays in its row while the key is remembered
        if len(ghost) > self.history:
            old, _ = ghost.popitem(last=False)
            self._free.append(self._rows.pop(old))  # buffered requests before its reuse still apply first

    def _on_remove(self, key: Hashable) -> None:
        super()._on_remove(key)
        self._free.append(self._rows.pop(key))
