"""Stack distances in one pass (Mattson et al. 1970) with a Fenwick tree, compiled with numba.

Mattson's observation: LRU has the inclusion property (the content of a cache of size C is the C
most recently used objects), so one pass that finds, for each request, the object's depth in the
recency stack — its *stack distance* — gives the hit/miss outcome at every size at once: a request
hits in an LRU cache of C objects iff its distance is at most C.

The depth is the number of distinct objects requested since the object's previous request, plus
one.  Keeping a 1 at the position of each object's latest request in a Fenwick (binary indexed)
tree (Fenwick 1994) makes that a prefix sum: O(log n) per request, O(n log n) in all (Olken 1981,
Almási et al. 2002).  With weights equal to object sizes the same sums give byte distances.

Departures: positions are recycled — when the tree is full the live positions (one per object)
are packed to the front and the tree rebuilt in linear time — so the tree holds about twice the
number of distinct objects, not one slot per request, and stays in cache for long traces.  State
lives in :class:`StackState` arrays so a trace can be fed in chunks (a progress bar between chunks;
memory independent of the number of requests already seen).  For unit weights (sizes in objects)
:mod:`.bitstack` does the same pass with a bitmap under a 64-times-smaller tree, 2-3x faster.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from supreme.cache.mrc.fenwick import add, build, pack_live, prefix

__all__ = ["COLD", "StackState", "distance_histogram", "feed", "new_state"]

#: the distance of a first request (a cold miss at every size)
COLD = -1
# rows of the scalars array
_T, _TOTAL = 0, 1


class StackState(NamedTuple):
    """The arrays of one pass: the tree, its owners, each object's last position and weight."""

    tree: np.ndarray  # int64 (m + 1): Fenwick tree over positions 0..m-1
    owner: np.ndarray  # int64 (m): the object whose latest request sits at a position, or -1
    last: np.ndarray  # int64 (n_obj): position of the object's latest request, -1 if none
    weight: np.ndarray  # int64 (n_obj): the weight (1 or bytes) stored at that position
    scalars: np.ndarray  # int64: next free position, total weight in the tree


def new_state(n_obj: int, slots: int | None = None) -> StackState:
    """Empty state for ``n_obj`` dense ids; the tree has ``slots`` positions (default 2·n_obj + 16).

    ``slots`` must exceed the number of objects ever in the stack at once (a sampler that keeps at
    most k objects needs about 2k, not 2·n_obj).
    """
    m = 2 * n_obj + 16 if slots is None else int(slots)
    return StackState(np.zeros(m + 1, np.int64), np.full(m, -1, np.int64), np.full(n_obj, -1, np.int64),
                      np.zeros(n_obj, np.int64), np.zeros(2, np.int64))


@njit(inline="always")
def _compact(tree, owner, last, weight, scalars):
    """Pack the live positions to the front (order kept) and rebuild the tree in O(m)."""
    m = owner.shape[0]
    j = pack_live(owner, last)
    tree[:] = 0
    for pos in range(j):
        tree[pos + 1] = weight[owner[pos]]
    build(tree, m)
    scalars[_T] = j


@njit(inline="always")
def _forget(tree, last, weight, scalars, x):
    """Take object ``x`` out of the stack (its latest position cleared)."""
    p = last[x]
    if p >= 0:
        add(tree, p, -weight[x])
        scalars[_TOTAL] -= weight[x]
        last[x] = -1


@njit(inline="always")
def _access(tree, owner, last, weight, scalars, x, w):
    """Record a request of ``x`` with weight ``w``; its stack distance (``COLD`` if first)."""
    p = last[x]
    d = COLD
    if p >= 0:
        d = scalars[_TOTAL] - prefix(tree, p) + w  # weight above x in the stack, plus its own
        _forget(tree, last, weight, scalars, x)
    if scalars[_T] >= owner.shape[0]:
        _compact(tree, owner, last, weight, scalars)
    t = scalars[_T]
    add(tree, t, w)
    owner[t] = x
    last[x] = t
    weight[x] = w
    scalars[_T] = t + 1
    scalars[_TOTAL] += w
    return d


@njit(cache=True, nogil=True)
def _feed(ids, weights, out, tree, owner, last, weight, scalars):
    for i in range(ids.shape[0]):
        out[i] = _access(tree, owner, last, weight, scalars, ids[i], weights[i])


def feed(state: StackState, ids: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Stack distances (``COLD`` for first requests) of a chunk of dense ``ids``, continuing ``state``."""
    out = np.empty(len(ids), np.int64)
    _feed(np.ascontiguousarray(ids, np.int64), np.ascontiguousarray(weights, np.int64), out, *state)
    return out


@njit(cache=True, nogil=True)
def _histogram(dist, nbytes, top, counts, byte_counts):
    for i in range(dist.shape[0]):
        d = dist[i]
        if d != COLD:
            k = d if d <= top else top + 1
            counts[k] += 1
            byte_counts[k] += nbytes[i]


def distance_histogram(dist: np.ndarray, nbytes: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """Requests and their bytes per distance 0..top (``top + 1``: deeper); cold requests left out."""
    counts = np.zeros(top + 2, np.int64)
    byte_counts = np.zeros(top + 2, np.float64)
    _histogram(np.ascontiguousarray(dist, np.int64), np.ascontiguousarray(nbytes, np.int64), int(top), counts,
               byte_counts)
    return counts, byte_counts
