"""Object-count stack distances with a bitmap under a small Fenwick tree (the fast unit-weight pass).

The same pass as :mod:`.stack` when every request weighs 1 (cache sizes in objects), laid out for
the memory hierarchy: a position's marker is one bit of a ``uint64`` word, and the Fenwick tree
counts markers per *word*, so it is 64 times smaller (for a million objects: a 256 KiB bitmap and a
256 KiB tree, both in L2, against 16 MiB for a per-position int64 tree).  A prefix count is the
tree's prefix over whole words plus a popcount of the last word.  Measured 2-3x faster than
:mod:`.stack` on 10M requests over a million objects, where the per-position tree's cache misses
dominated.  Positions are recycled by packing, as in :mod:`.stack`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, uint64

from supreme.cache.mrc.fenwick import add, build, pack_live, prefix
from supreme.cache.mrc.stack import COLD

__all__ = ["BitState", "feed_unit", "new_bit_state"]

_T, _TOTAL = 0, 1


class BitState(NamedTuple):
    """Bitmap of latest positions, per-word Fenwick tree, owners, last positions, scalars."""

    words: np.ndarray  # uint64 (m / 64)
    tree: np.ndarray  # int64 (m / 64 + 1): Fenwick tree of the words' popcounts
    owner: np.ndarray  # int64 (m)
    last: np.ndarray  # int64 (n_obj)
    scalars: np.ndarray  # int64: next free position, markers set


def new_bit_state(n_obj: int) -> BitState:
    """Empty state for ``n_obj`` dense ids (2·n_obj + 64 positions, a whole number of words)."""
    n_words = (2 * n_obj + 64 + 63) // 64
    return BitState(np.zeros(n_words, np.uint64), np.zeros(n_words + 1, np.int64),
                    np.full(n_words * 64, -1, np.int64), np.full(n_obj, -1, np.int64), np.zeros(2, np.int64))


@njit(inline="always")
def _popcount(v):
    v = v - ((v >> uint64(1)) & uint64(0x5555555555555555))
    v = (v & uint64(0x3333333333333333)) + ((v >> uint64(2)) & uint64(0x3333333333333333))
    v = (v + (v >> uint64(4))) & uint64(0x0F0F0F0F0F0F0F0F)
    return np.int64((v * uint64(0x0101010101010101)) >> uint64(56))


@njit(inline="always")
def _pack(words, tree, owner, last, scalars):
    j = pack_live(owner, last)
    words[:] = 0
    for pos in range(j):
        words[pos >> 6] |= uint64(1) << uint64(pos & 63)
    tree[:] = 0
    n_words = words.shape[0]
    for w in range(n_words):
        tree[w + 1] = _popcount(words[w])
    build(tree, n_words)
    scalars[_T] = j


@njit(cache=True, nogil=True)
def _feed_unit(ids, out, words, tree, owner, last, scalars):
    t = scalars[_T]
    total = scalars[_TOTAL]
    m = owner.shape[0]
    for i in range(ids.shape[0]):
        x = ids[i]
        p = last[x]
        d = COLD
        if p >= 0:
            w = p >> 6
            bit = uint64(1) << uint64(p & 63)
            upto = words[w] & (bit | (bit - uint64(1)))  # markers of this word at or before p
            d = total - (prefix(tree, w - 1) + _popcount(upto)) + 1
            words[w] &= ~bit
            add(tree, w, -1)
            total -= 1
            last[x] = -1  # so a packing before the new marker is set does not keep the old one
        out[i] = d
        if t >= m:
            scalars[_T] = t
            _pack(words, tree, owner, last, scalars)
            t = scalars[_T]
        words[t >> 6] |= uint64(1) << uint64(t & 63)
        add(tree, t >> 6, 1)
        owner[t] = x
        last[x] = t
        t += 1
        total += 1
    scalars[_T] = t
    scalars[_TOTAL] = total


def feed_unit(state: BitState, ids: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Object-count stack distances (``COLD`` for first requests) of a chunk, continuing ``state``.

    ``out`` (int64, contiguous, as long as ``ids``) receives them in place when given.
    """
    if out is None:
        out = np.empty(len(ids), np.int64)
    _feed_unit(np.ascontiguousarray(ids, np.int64), out, *state)
    return out
