"""The Fenwick tree (Fenwick 1994) and position packing the two stack-distance passes share.

Both passes keep each object's latest request at a *position*; when positions run out the live ones
are packed to the front, order kept (:func:`pack_live`), and the tree is rebuilt in linear time
(:func:`build`).  Compiled inline into the callers' loops.
"""

from __future__ import annotations

from numba import njit

__all__ = ["add", "build", "pack_live", "prefix"]


@njit(inline="always")
def add(tree, i, v):
    """Add ``v`` at position ``i``."""
    i += 1
    n = tree.shape[0]
    while i < n:
        tree[i] += v
        i += i & (-i)


@njit(inline="always")
def prefix(tree, i):
    """Sum of positions 0..i."""
    s = 0
    i += 1
    while i > 0:
        s += tree[i]
        i -= i & (-i)
    return s


@njit(inline="always")
def build(tree, n):
    """Turn ``tree[1..n]`` holding per-position values into a Fenwick tree in O(n)."""
    for i in range(1, n + 1):  # push each node into its parent
        parent = i + (i & (-i))
        if parent <= n:
            tree[parent] += tree[i]


@njit(inline="always")
def pack_live(owner, last):
    """Move each object's latest position to the front, order kept; return how many are live."""
    j = 0
    for pos in range(owner.shape[0]):
        x = owner[pos]
        owner[pos] = -1
        if x >= 0 and last[x] == pos:
            owner[j] = x
            last[x] = j
            j += 1
    return j
