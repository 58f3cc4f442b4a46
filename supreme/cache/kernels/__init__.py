"""Compiled trace-simulation kernels, one per policy (numba, cached on disk).

Each kernel replays a whole trace of *dense* ids (0..k-1, see ``Trace.dense_ids``) through one
policy and writes a 0/1 hit flag per request.  They mirror the Python classes of
:mod:`supreme.cache.policies` step for step — same get path (hit; else skip if larger than the
cache, evict until it fits, insert), same tie-breaks, same sketch hashing — and
``tests/cache/test_kernels.py`` checks them hit for hit against those classes on random traces and
the real trace, so the two cannot drift apart silently.

The get path is written once, in :mod:`.driver`; a policy's module supplies its hooks (hit update,
pre-eviction step, victim, insert) and its state.  State is a few int64/float64 arrays
(:class:`.driver.State`; the queue rows in :mod:`.lists`); sizes are in the capacity's unit (1 per
request when simulating object counts).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from supreme.cache.kernels.arc import arc
from supreme.cache.kernels.clock_eviction import clock
from supreme.cache.kernels.fifo import fifo
from supreme.cache.kernels.lfu import lfu
from supreme.cache.kernels.lrfu import lrfu
from supreme.cache.kernels.lru import lru
from supreme.cache.kernels.opt import opt
from supreme.cache.kernels.s3fifo import s3fifo
from supreme.cache.kernels.sieve import sieve
from supreme.cache.kernels.twoq import twoq
from supreme.cache.kernels.wtinylfu import wtinylfu

__all__ = ["KERNELS", "run_kernel"]

KERNELS: dict[str, Callable[..., np.ndarray]] = {
    "lru": lru, "fifo": fifo, "lfu": lfu, "clock": clock, "arc": arc, "sieve": sieve,
    "s3fifo": s3fifo, "wtinylfu": wtinylfu, "lrfu": lrfu, "opt": opt, "twoq": twoq,
}


def run_kernel(policy: str, ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int,
               **kwargs: object) -> np.ndarray:
    """Hit flags (uint8 per request) of registry policy ``policy`` (``"lrfu:32"`` too) over dense ``ids``."""
    from supreme.cache.policies.registry import split_spec

    base, spec_kwargs = split_spec(policy)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    sizes = np.ascontiguousarray(sizes, dtype=np.int64)
    return KERNELS[base](ids, sizes, int(cap), int(n_obj), **{**spec_kwargs, **kwargs})
