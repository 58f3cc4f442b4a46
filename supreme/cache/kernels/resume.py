"""A policy's kernel state kept between calls: feed a stream in pieces, get the hits of one replay.

The compiled loop of :mod:`.driver` takes the bytes held and returns them, and every hook keeps the
rest of its state in the :class:`~.driver.State` arrays, so calling the loop again on the same
state continues the replay exactly: ``feed(a)`` then ``feed(b)`` flags the same hits as one replay
of ``a + b`` (tested).  The adaptive layer's persistent shadow caches are built on this
(:mod:`supreme.adaptive.shadow`): each access is fed to them once, instead of a warm-up being
replayed every window.

Ids are dense in ``[0, n_obj)`` and at most ``max_requests`` requests may be fed in all (LFU sizes a
queue per possible count by it); the caller renews the state (a fresh :class:`Resumable`) before
either bound is reached.  OPT needs the future and is not resumable.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from supreme.cache.kernels.arc import _REPLAY as _ARC
from supreme.cache.kernels.arc import arc_state
from supreme.cache.kernels.clock_eviction import _REPLAY as _CLOCK
from supreme.cache.kernels.clock_eviction import clock_state
from supreme.cache.kernels.driver import State
from supreme.cache.kernels.fifo import _REPLAY as _FIFO
from supreme.cache.kernels.fifo import fifo_state
from supreme.cache.kernels.lfu import _REPLAY as _LFU
from supreme.cache.kernels.lfu import lfu_state
from supreme.cache.kernels.lrfu import _REPLAY as _LRFU
from supreme.cache.kernels.lrfu import lrfu_state
from supreme.cache.kernels.lru import _REPLAY as _LRU
from supreme.cache.kernels.lru import lru_state
from supreme.cache.kernels.s3fifo import _REPLAY as _S3FIFO
from supreme.cache.kernels.s3fifo import s3fifo_state
from supreme.cache.kernels.sieve import _REPLAY as _SIEVE
from supreme.cache.kernels.sieve import sieve_state
from supreme.cache.kernels.twoq import _REPLAY as _TWOQ
from supreme.cache.kernels.twoq import twoq_state
from supreme.cache.kernels.wtinylfu import _REPLAY as _WTINYLFU
from supreme.cache.kernels.wtinylfu import wtinylfu_state

__all__ = ["RESUMABLE", "Resumable"]

#: policy -> (its compiled loop, its empty-state builder ``(cap, n_obj, max_requests, **spec)``)
RESUMABLE: dict[str, tuple[Callable[..., int], Callable[..., State]]] = {
    "arc": (_ARC, arc_state),
    "clock": (_CLOCK, clock_state),
    "fifo": (_FIFO, fifo_state),
    "lfu": (_LFU, lfu_state),
    "lrfu": (_LRFU, lrfu_state),
    "lru": (_LRU, lru_state),
    "s3fifo": (_S3FIFO, s3fifo_state),
    "sieve": (_SIEVE, sieve_state),
    "wtinylfu": (_WTINYLFU, wtinylfu_state),
    "twoq": (_TWOQ, twoq_state),
}


class Resumable:
    """One policy (a registry spec such as ``"lrfu:16"``) at capacity ``cap``, replayed piece by piece."""

    def __init__(self, policy: str, cap: int, n_obj: int, max_requests: int) -> None:
        from supreme.cache.policies.registry import split_spec

        base, kwargs = split_spec(policy)
        if base not in RESUMABLE:
            raise ValueError(f"policy {base!r} has no resumable kernel")
        if cap < 1 or n_obj < 1 or max_requests < 1:
            raise ValueError(f"cap, n_obj and max_requests must be >= 1, got {cap}, {n_obj}, {max_requests}")
        self.policy = policy
        self.cap = int(cap)
        self.n_obj = int(n_obj)
        self.max_requests = int(max_requests)
        self._replay, build = RESUMABLE[base]
        self._state = build(self.cap, self.n_obj, self.max_requests, **kwargs)
        self.used = 0  # units held (the loop's running total)
        self.fed = 0  # requests fed so far

    def feed(self, ids: np.ndarray, sizes: np.ndarray | None = None) -> np.ndarray:
        """Hit flags (uint8) of the next requests ``ids`` (dense, int64), continuing the replay."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        n = len(ids)
        if self.fed + n > self.max_requests:
            raise ValueError(f"feeding {n} more requests passes max_requests={self.max_requests}")
        if n and (int(ids.min()) < 0 or int(ids.max()) >= self.n_obj):
            raise ValueError(f"ids must be in [0, {self.n_obj})")
        sz = np.ones(n, np.int64) if sizes is None else np.ascontiguousarray(sizes, dtype=np.int64)
        hits = np.zeros(n, np.uint8)
        if n:
            self.used = int(self._replay(ids, sz, self.cap, hits, self.used, *self._state))
        self.fed += n
        return hits

    def grow(self, n_obj: int, max_requests: int) -> None:
        """Room for ids up to ``n_obj`` and ``max_requests`` requests in all (state kept exactly).

        A fresh state at the larger bounds is what a never-seen id or an unused queue holds, so
        copying the old arrays into its leading slices continues the replay unchanged.
        """
        n_obj, max_requests = max(self.n_obj, int(n_obj)), max(self.max_requests, int(max_requests))
        if (n_obj, max_requests) == (self.n_obj, self.max_requests):
            return
        from supreme.cache.policies.registry import split_spec

        _, kwargs = split_spec(self.policy)
        build = RESUMABLE[split_spec(self.policy)[0]][1]
        new = build(self.cap, n_obj, max_requests, **kwargs)
        for old_arr, new_arr in zip(self._state, new, strict=True):
            new_arr[tuple(slice(0, d) for d in old_arr.shape)] = old_arr
        self._state, self.n_obj, self.max_requests = new, n_obj, max_requests

    def memory_bytes(self) -> int:
        """Bytes of the state arrays."""
        return int(sum(a.nbytes for a in self._state))
