"""OPT kernel (Belady): evict the id requested again farthest in the future, by a lazy max-heap."""

from __future__ import annotations

import numpy as np

from supreme.cache.kernels.driver import hook, make_replay, new_state, run
from supreme.cache.kernels.lists import OSIZE

__all__ = ["opt"]

PRIO = OSIZE + 1  # row of ob: the cached id's next request (n + t if none; -1: not cached)
HEAP_P, HEAP_K, NEXT_ACCESS = 0, 1, 2  # rows of aux: heap priorities, heap ids, the trace's next access
HN = 0  # reg: heap entries (stale ones included)


@hook
def _place(x, i, ob, reg, aux):
    """Give ``x`` the priority of its request ``i`` and push it (older entries of ``x`` go stale)."""
    n = aux.shape[1] - 1
    nx = aux[NEXT_ACCESS, i]
    p = nx if nx >= 0 else n + i
    ob[PRIO, x] = p
    j = reg[HN]
    reg[HN] = j + 1
    while j > 0:
        parent = (j - 1) // 2
        if aux[HEAP_P, parent] >= p:
            break
        aux[HEAP_P, j] = aux[HEAP_P, parent]
        aux[HEAP_K, j] = aux[HEAP_K, parent]
        j = parent
    aux[HEAP_P, j] = p
    aux[HEAP_K, j] = x


@hook
def lookup(x, s, i, ob, qs, reg, fo, fr, aux):
    if ob[PRIO, x] < 0:
        return False
    _place(x, i, ob, reg, aux)
    return True


@hook
def evict(x, s, i, ob, qs, reg, fo, fr, aux):
    while True:  # pop the max, skipping stale entries
        top_p = aux[HEAP_P, 0]
        top_k = aux[HEAP_K, 0]
        hn = reg[HN] - 1
        reg[HN] = hn
        lp = aux[HEAP_P, hn]
        lk = aux[HEAP_K, hn]
        j = 0
        while True:
            c = 2 * j + 1
            if c >= hn:
                break
            if c + 1 < hn and aux[HEAP_P, c + 1] > aux[HEAP_P, c]:
                c += 1
            if aux[HEAP_P, c] <= lp:
                break
            aux[HEAP_P, j] = aux[HEAP_P, c]
            aux[HEAP_K, j] = aux[HEAP_K, c]
            j = c
        if hn > 0:
            aux[HEAP_P, j] = lp
            aux[HEAP_K, j] = lk
        if ob[PRIO, top_k] == top_p:
            ob[PRIO, top_k] = -1
            return ob[OSIZE, top_k]


@hook
def insert(x, s, i, ob, qs, reg, fo, fr, aux):
    ob[OSIZE, x] = s
    _place(x, i, ob, reg, aux)


_REPLAY = make_replay("opt", lookup, evict, insert)


def opt(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, next_access: np.ndarray | None = None,
        **_: object) -> np.ndarray:
    """OPT hit flags; ``next_access`` is required."""
    if next_access is None:
        raise ValueError("the OPT kernel needs next_access")
    n = len(ids)
    aux = np.zeros((3, n + 1), np.int64)
    aux[NEXT_ACCESS, :n] = np.asarray(next_access, np.int64)
    state = new_state(n_obj, obj_rows=1, aux=aux)
    state.ob[PRIO] = -1
    return run(_REPLAY, ids, sizes, cap, state)
