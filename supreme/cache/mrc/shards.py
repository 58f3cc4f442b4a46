"""SHARDS: spatially hashed sampling for miss-ratio curves (Waldspurger et al., FAST '15).

SHARDS keeps the requests of the objects whose id hashes below a threshold ``T`` (out of
``P = 2**53`` here), runs the stack-distance pass on that subtrace only, and scales each distance by
``1/R`` with ``R = T/P`` the sampling rate.  Because whole objects are kept or dropped, reuse
patterns survive the sampling.

fixed rate   ``R`` constant.  The *adjusted* variant (SHARDS_adj, §4.2) replaces the sampled
             request count by its expectation ``N·R`` — the difference goes to the shortest distance
             — which removes most of the bias the luck of the draw puts on the heaviest objects.
fixed size   at most ``s_max`` objects are kept: when a new one would exceed it, the object of the
             largest hash leaves and ``T`` drops to that hash (§5).  Counts taken at an earlier, higher
             rate are rescaled by ``R_new/R_old``, i.e. a sample taken at rate ``R_i`` weighs
             ``R_final/R_i`` in the end.

Departures from the paper: the hash is splitmix64's finalizer (the paper leaves it open); histogram
buckets are exact scaled distances (no bucket width); the adjustment is offered for both variants
(for fixed size, the expected sample is ``N·R_final``), on by default; and the fixed-size sampler
keeps a few per-object arrays over the trace's dense ids, so its memory is O(objects in the trace),
not the paper's O(s_max) (the tree and the heap are O(s_max)).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from supreme.cache.mrc.stack import COLD, _access, _forget, new_state

__all__ = ["HASH_SPACE", "SKIPPED", "fixed_size_distances", "hash53"]

#: hash values are 53-bit, so a threshold divided by HASH_SPACE is an exact float rate
HASH_SPACE = 1 << 53
#: the distance of a request the sampler did not keep
SKIPPED = COLD - 1


def hash53(obj_ids: np.ndarray) -> np.ndarray:
    """A 53-bit hash of each (uint64) object id: splitmix64's finalizer, deterministic everywhere."""
    z = np.asarray(obj_ids).astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.int64)


@njit(inline="always")
def _sift_down(heap, key, size, i):
    while True:
        big = i
        left = 2 * i + 1
        if left < size and key[heap[left]] > key[heap[big]]:
            big = left
        if left + 1 < size and key[heap[left + 1]] > key[heap[big]]:
            big = left + 1
        if big == i:
            return
        heap[i], heap[big] = heap[big], heap[i]
        i = big


@njit(inline="always")
def _push(heap, key, size, x):
    i = size
    heap[i] = x
    while i > 0:
        parent = (i - 1) // 2
        if key[heap[parent]] >= key[heap[i]]:
            break
        heap[i], heap[parent] = heap[parent], heap[i]
        i = parent


@njit(cache=True, nogil=True)
def _fixed_size(ids, weights, h, s_max, dist, thr, heap, sampled, ctl, tree, owner, last, weight, scalars):
    # ctl: [heap size, threshold]
    for i in range(ids.shape[0]):
        x = ids[i]
        if h[x] >= ctl[1]:
            dist[i] = SKIPPED
            thr[i] = ctl[1]
            continue
        if not sampled[x]:
            sampled[x] = True
            _push(heap, h, ctl[0], x)
            ctl[0] += 1
            if ctl[0] > s_max:  # one object too many: the largest hash leaves, the threshold drops
                y = heap[0]
                ctl[0] -= 1
                heap[0] = heap[ctl[0]]
                _sift_down(heap, h, ctl[0], 0)
                sampled[y] = False
                ctl[1] = h[y]
                _forget(tree, last, weight, scalars, y)
                if y == x:
                    dist[i] = SKIPPED
                    thr[i] = ctl[1]
                    continue
        dist[i] = _access(tree, owner, last, weight, scalars, x, weights[i])
        thr[i] = ctl[1]


class FixedSizeSampler:
    """Fixed-size SHARDS over dense ids, fed chunk by chunk."""

    def __init__(self, obj_hash: np.ndarray, s_max: int, rate: float = 1.0) -> None:
        n_obj = len(obj_hash)
        self.hash = np.ascontiguousarray(obj_hash, np.int64)
        self.s_max = int(s_max)
        self.state = new_state(n_obj, slots=2 * self.s_max + 16)
        self.heap = np.zeros(self.s_max + 1, np.int64)
        self.sampled = np.zeros(n_obj, np.bool_)
        self.ctl = np.array([0, int(rate * HASH_SPACE)], np.int64)

    def feed(self, ids: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distances (``SKIPPED`` for requests not sampled) and the threshold at each request."""
        dist = np.empty(len(ids), np.int64)
        thr = np.empty(len(ids), np.int64)
        _fixed_size(np.ascontiguousarray(ids, np.int64), np.ascontiguousarray(weights, np.int64), self.hash,
                    self.s_max, dist, thr, self.heap, self.sampled, self.ctl, *self.state)
        return dist, thr

    @property
    def threshold(self) -> int:
        """The current threshold ``T`` (rate ``T / HASH_SPACE``)."""
        return int(self.ctl[1])


def fixed_size_distances(ids: np.ndarray, weights: np.ndarray, obj_hash: np.ndarray,
                         s_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Scaled distances (inf: cold, nan: not sampled) and each request's final weight, in one call."""
    sampler = FixedSizeSampler(obj_hash, s_max)
    dist, thr = sampler.feed(ids, weights)
    return scale(dist, thr, sampler.threshold, np.asarray(weights))


def scale(dist: np.ndarray, thr: np.ndarray, final: int, own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances scaled by ``1/R_i`` (inf: cold, nan: skipped) and weights ``R_final/R_i``.

    Only the part of a distance made of *other* objects is sampled, so only it is scaled: a
    distance ``d`` of a request of weight ``own`` becomes ``(d - own) / R + own`` (scaling all of it
    would make every reuse at least ``1/R`` deep and every cache smaller than that miss).
    """
    rate = thr / HASH_SPACE
    scaled = np.where(dist >= 0, (dist - own) / rate + own, np.inf)
    scaled[dist == SKIPPED] = np.nan
    return scaled, np.where(dist == SKIPPED, 0.0, final / thr)
