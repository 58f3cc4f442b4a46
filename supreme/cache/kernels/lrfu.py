"""LRFU kernel: evict the id of least decayed reference count (ties: the least recent), with a
bounded ghost history of evicted ids that keep their counts.

A min-heap on each resident's (score, seq) *as placed*: a hit only raises the id's current score
(O(1)), and a root whose current value is above its placed one is re-placed (sifted down) when an
eviction reaches it.  Placed values are <= current ones and the heap is ordered on placed values, so
a root whose two agree is the true minimum — the class's victim.  The ghost history is queue 0
(``WHERE`` 1).  Scores are sums of reference weights ``w``; ``w`` grows by ``step`` per request and
is scaled back with every stored score (see :mod:`supreme.cache.policies.lrfu`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from supreme.cache.kernels.driver import State, hook, make_replay, new_state, run
from supreme.cache.kernels.lists import HEAD, NEXT, OSIZE, TAIL, WHERE, push_head, unlink

__all__ = ["lrfu", "lrfu_state"]

SEQ, PSEQ, HPOS = OSIZE + 1, OSIZE + 2, OSIZE + 3  # rows of ob: recency, placed recency, heap slot (-1)
SCORE, PSCORE = 0, 1  # rows of fo: score, placed score
HN, GHOSTS, COUNTER, HISTORY = range(4)  # reg
W, STEP = 0, 1  # fr: the current reference weight, its growth per request
_MAX_W = 1.8446744073709552e19  # 2^64


@hook
def _before(a, b, ob, fo):
    return fo[PSCORE, a] < fo[PSCORE, b] or (fo[PSCORE, a] == fo[PSCORE, b] and ob[PSEQ, a] < ob[PSEQ, b])


@hook
def _seat(heap, j, x, ob):
    """Put ``x`` in heap slot ``j``."""
    heap[0, j] = x
    ob[HPOS, x] = j


@hook
def _heap_down(heap, hn, j, ob, fo):
    """Sift the id in slot ``j`` down to its place among the ``hn`` entries."""
    x = heap[0, j]
    while True:
        c = 2 * j + 1
        if c >= hn:
            break
        if c + 1 < hn and _before(heap[0, c + 1], heap[0, c], ob, fo):
            c += 1
        if not _before(heap[0, c], x, ob, fo):
            break
        _seat(heap, j, heap[0, c], ob)
        j = c
    _seat(heap, j, x, ob)


@hook
def _heap_up(heap, j, ob, fo):
    """Sift the id in slot ``j`` up to its place."""
    x = heap[0, j]
    while j > 0:
        p = (j - 1) // 2
        if not _before(x, heap[0, p], ob, fo):
            break
        _seat(heap, j, heap[0, p], ob)
        j = p
    _seat(heap, j, x, ob)


@hook
def _rescale(w, ob, qs, reg, fo, heap):
    """Scale ``w`` and every stored score back by the power of two that brings ``w`` near 1 (exact)."""
    scale = 2.0 ** -math.frexp(w)[1]
    for j in range(reg[HN]):
        fo[SCORE, heap[0, j]] *= scale
        fo[PSCORE, heap[0, j]] *= scale
    g = qs[HEAD, 0]
    while g >= 0:
        fo[SCORE, g] *= scale
        g = ob[NEXT, g]
    return w * scale


@hook
def _next_weight(ob, qs, reg, fo, fr, heap):
    """The weight of this request (past 2^64 it and every stored score are scaled back)."""
    w = fr[W] * fr[STEP]
    if w > _MAX_W:
        w = _rescale(w, ob, qs, reg, fo, heap)
    fr[W] = w
    return w


@hook
def _leave_history(ob, qs, reg, g):
    """Take ``g`` out of the ghost history (``WHERE`` 0: known, neither cached nor a ghost)."""
    unlink(ob, qs, 0, g)
    ob[WHERE, g] = 0
    reg[GHOSTS] -= 1


@hook
def lookup(x, s, i, ob, qs, reg, fo, fr, aux):
    if ob[HPOS, x] < 0:
        return False
    w = _next_weight(ob, qs, reg, fo, fr, aux)  # first: it may rescale the score
    fo[SCORE, x] += w
    ob[SEQ, x] = reg[COUNTER]
    reg[COUNTER] += 1
    return True


@hook
def evict(x, s, i, ob, qs, reg, fo, fr, aux):
    v = aux[0, 0]
    if ob[PSEQ, v] != ob[SEQ, v]:  # raised since it was placed: place it again, look again
        fo[PSCORE, v] = fo[SCORE, v]
        ob[PSEQ, v] = ob[SEQ, v]
        _heap_down(aux, reg[HN], 0, ob, fo)
        return 0
    hn = reg[HN] - 1
    reg[HN] = hn
    if hn > 0:
        _seat(aux, 0, aux[0, hn], ob)
        _heap_down(aux, hn, 0, ob, fo)
    ob[HPOS, v] = -1
    if reg[HISTORY] > 0:
        push_head(ob, qs, 0, v)
        ob[WHERE, v] = 1
        reg[GHOSTS] += 1
        if reg[GHOSTS] > reg[HISTORY]:
            _leave_history(ob, qs, reg, qs[TAIL, 0])
    return ob[OSIZE, v]


@hook
def insert(x, s, i, ob, qs, reg, fo, fr, aux):
    w = _next_weight(ob, qs, reg, fo, fr, aux)
    if ob[WHERE, x] == 1:  # back from the ghost history with its count
        _leave_history(ob, qs, reg, x)
        fo[SCORE, x] += w
    else:
        fo[SCORE, x] = w
    ob[SEQ, x] = reg[COUNTER]
    reg[COUNTER] += 1
    fo[PSCORE, x] = fo[SCORE, x]
    ob[PSEQ, x] = ob[SEQ, x]
    hn = reg[HN]
    _seat(aux, hn, x, ob)
    reg[HN] = hn + 1
    _heap_up(aux, hn, ob, fo)
    ob[OSIZE, x] = s


_REPLAY = make_replay("lrfu", lookup, evict, insert)


def lrfu_state(cap: int, n_obj: int, n_req: int, horizon: float = 8.0, half_life: float | None = None,
               history: int | None = None, **_: object) -> State:
    """LRFU's empty state (half-life ``horizon`` x ``cap`` requests unless ``half_life`` is given)."""
    from supreme.cache.policies.lrfu import weight_step

    h = float(half_life) if half_life is not None else float(horizon) * cap
    regs = (0, 0, 0, cap if history is None else int(history))
    state = new_state(n_obj, obj_rows=3, regs=regs, float_rows=2, fregs=(1.0, weight_step(h)),
                      aux=np.zeros((1, min(cap, n_obj) + 1), np.int64))
    state.ob[HPOS] = -1
    return state


def lrfu(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, **kw: Any) -> np.ndarray:
    """LRFU hit flags (see :func:`lrfu_state` for the parameters)."""
    return run(_REPLAY, ids, sizes, cap, lrfu_state(cap, n_obj, len(ids), **kw))
