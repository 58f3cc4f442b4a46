"""Compiled inner loops of the adaptive layer (numba, cached), each with a pure-Python fallback.

Only loops that numpy cannot express live here: the Fenwick-tree LRU stack distance (Mattson,
Gecsei, Slutz & Traiger, "Evaluation techniques for storage hierarchies", IBM Systems Journal 1970;
Bennett & Kruskal's O(n log n) tree form, 1975).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["stack_distances_codes"]


def _stack_distances_py(codes: np.ndarray, n_keys: int) -> np.ndarray:
    """Distinct keys since each access's previous use (-1 for a first use), O(n log n)."""
    n = len(codes)
    tree = np.zeros(n + 1, dtype=np.int64)  # Fenwick tree over positions: 1 where a key's latest use sits
    last = np.full(n_keys, -1, dtype=np.int64)
    out = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        c = codes[i]
        j = last[c]
        if j >= 0:
            s = 0
            p = i
            while p > 0:
                s += tree[p]
                p -= p & -p
            p = j + 1
            while p > 0:
                s -= tree[p]
                p -= p & -p
            out[i] = s
            p = j + 1
            while p <= n:
                tree[p] -= 1
                p += p & -p
        p = i + 1
        while p <= n:
            tree[p] += 1
            p += p & -p
        last[c] = i
    return out


_stack_distances: Callable[[np.ndarray, int], np.ndarray]
try:
    from numba import njit

    _stack_distances = njit(cache=True, nogil=True)(_stack_distances_py)
except Exception:  # pragma: no cover - numba missing: the same loop, interpreted
    _stack_distances = _stack_distances_py


def stack_distances_codes(codes: np.ndarray, n_keys: int) -> np.ndarray:
    """LRU stack distances of integer key codes in ``[0, n_keys)``."""
    return np.asarray(_stack_distances(np.ascontiguousarray(codes, dtype=np.int64), int(n_keys)))
