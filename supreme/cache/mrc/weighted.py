"""Stack distances with a real-valued weight per object: the pass behind stratified SHARDS.

The same Fenwick-tree pass as :mod:`.stack`, except that the marker at an object's latest position
holds ``object weight x request size`` as a float: a request's distance is the sum of the markers
of the *other* objects requested since its previous request, plus its own size unweighted (the
object itself is certainly in the stack; only the others were sampled — as :func:`.shards.scale`
treats the object's own weight).  With every weight 1 it is :mod:`.stack`'s distance exactly
(sums of small integers are exact in float64).

Float sums drift as markers are added and taken out; every packing rebuilds the tree and the total
from the stored markers, so the drift never outlives one round of positions.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from supreme.cache.mrc.fenwick import add, build, pack_live, prefix

__all__ = ["WeightedState", "feed_weighted", "new_weighted_state"]


class WeightedState(NamedTuple):
    """The arrays of one weighted pass."""

    tree: np.ndarray  # float64 (m + 1): Fenwick tree of the markers
    owner: np.ndarray  # int64 (m): the object whose latest request sits at a position, or -1
    last: np.ndarray  # int64 (n_obj): position of the object's latest request, -1 if none
    marker: np.ndarray  # float64 (n_obj): the marker stored at that position
    pos: np.ndarray  # int64 (1): next free position
    total: np.ndarray  # float64 (1): sum of the markers in the tree


def new_weighted_state(n_obj: int) -> WeightedState:
    """Empty state for ``n_obj`` dense ids (2·n_obj + 16 positions)."""
    m = 2 * n_obj + 16
    return WeightedState(np.zeros(m + 1), np.full(m, -1, np.int64), np.full(n_obj, -1, np.int64),
                         np.zeros(n_obj), np.zeros(1, np.int64), np.zeros(1))


@njit(cache=True, nogil=True)
def _feed_weighted(ids, own, obj_weight, out, tree, owner, last, marker, pos, total):
    m = owner.shape[0]
    for i in range(ids.shape[0]):
        x = ids[i]
        p = last[x]
        d = -1.0
        if p >= 0:
            d = total[0] - prefix(tree, p) + own[i]  # the others' markers above x, plus its own size
            add(tree, p, -marker[x])
            total[0] -= marker[x]
            last[x] = -1
        if pos[0] >= m:  # pack, and rebuild the tree and the total from the markers (no drift)
            j = pack_live(owner, last)
            tree[:] = 0.0
            s = 0.0
            for q in range(j):
                tree[q + 1] = marker[owner[q]]
                s += marker[owner[q]]
            build(tree, m)
            pos[0] = j
            total[0] = s
        t = pos[0]
        w = obj_weight[x] * own[i]
        add(tree, t, w)
        owner[t] = x
        last[x] = t
        marker[x] = w
        pos[0] = t + 1
        total[0] += w
        out[i] = d


def feed_weighted(state: WeightedState, ids: np.ndarray, own: np.ndarray,
                  obj_weight: np.ndarray) -> np.ndarray:
    """Weighted distances (-1.0 for first requests) of a chunk of dense ``ids``, continuing ``state``.

    ``own`` is each request's size (1 in object mode), ``obj_weight`` each dense id's weight.
    """
    out = np.empty(len(ids))
    _feed_weighted(np.ascontiguousarray(ids, np.int64), np.ascontiguousarray(own, np.float64),
                   np.ascontiguousarray(obj_weight, np.float64), out, *state)
    return out
