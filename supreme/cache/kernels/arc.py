"""ARC kernel: T1/T2 resident, B1/B2 ghosts, the target size ``p`` of T1 moved by ghost hits."""

from __future__ import annotations

import numpy as np

from supreme.cache.kernels.driver import State, hook, make_replay, new_state, run
from supreme.cache.kernels.lists import HEAD, OSIZE, QBYTES, TAIL, WHERE, push_head, remove, unlink

__all__ = ["arc", "arc_state"]

T1, T2, B1, B2 = 0, 1, 2, 3  # queues
# reg: the capacity; the ghost list this miss was found in (-1: none); whether to drop T1's tail first
CAP, GHOST, DROP_T1 = 0, 1, 2
P = 0  # fr: target size of T1


@hook
def _drop(q, ob, qs):
    """Forget the tail of queue ``q``."""
    qs[QBYTES, q] -= remove(ob, qs, q, qs[TAIL, q])


@hook
def lookup(x, s, i, ob, qs, reg, fo, fr, aux):
    w = ob[WHERE, x]
    if w != T1 and w != T2:
        return False
    unlink(ob, qs, w, x)
    push_head(ob, qs, T2, x)
    if w == T1:
        qs[QBYTES, T1] -= ob[OSIZE, x]
        qs[QBYTES, T2] += ob[OSIZE, x]
        ob[WHERE, x] = T2
    return True


@hook
def on_miss(x, s, i, ob, qs, reg, fo, fr, aux):
    cap = reg[CAP]
    lsz = qs[QBYTES]
    w = ob[WHERE, x]
    reg[GHOST] = -1
    reg[DROP_T1] = 0
    if w == B1:
        fr[P] = min(float(cap), fr[P] + max(lsz[B2] / lsz[B1], 1.0))
        reg[GHOST] = B1
    elif w == B2:
        fr[P] = max(0.0, fr[P] - max(lsz[B1] / lsz[B2], 1.0))
        reg[GHOST] = B2
    elif lsz[T1] + lsz[B1] >= cap:
        if lsz[T1] < cap:
            _drop(B1, ob, qs)
        else:
            reg[DROP_T1] = 1
    elif lsz[T1] + lsz[T2] + lsz[B1] + lsz[B2] >= 2 * cap and qs[HEAD, B2] >= 0:
        _drop(B2, ob, qs)


@hook
def evict(x, s, i, ob, qs, reg, fo, fr, aux):
    lsz = qs[QBYTES]
    if reg[DROP_T1] and qs[HEAD, T1] >= 0:
        reg[DROP_T1] = 0
        freed = ob[OSIZE, qs[TAIL, T1]]
        _drop(T1, ob, qs)
        return freed
    p = fr[P]
    t1_first = lsz[T1] >= 1 and (lsz[T1] > p or (reg[GHOST] == B2 and lsz[T1] == p))
    src = T1 if (t1_first and qs[HEAD, T1] >= 0) or qs[HEAD, T2] < 0 else T2
    v = qs[TAIL, src]
    unlink(ob, qs, src, v)
    push_head(ob, qs, src + 2, v)
    ob[WHERE, v] = src + 2
    lsz[src] -= ob[OSIZE, v]
    lsz[src + 2] += ob[OSIZE, v]
    freed = ob[OSIZE, v]
    cap = reg[CAP]
    while lsz[T1] + lsz[T2] + lsz[B1] + lsz[B2] > 2 * cap and (qs[HEAD, B1] >= 0 or qs[HEAD, B2] >= 0):
        _drop(B2 if qs[HEAD, B2] >= 0 else B1, ob, qs)
    return freed


@hook
def insert(x, s, i, ob, qs, reg, fo, fr, aux):
    ghost = reg[GHOST]
    if ghost >= 0 and ob[WHERE, x] == ghost:
        unlink(ob, qs, ghost, x)
        qs[QBYTES, ghost] -= ob[OSIZE, x]
        push_head(ob, qs, T2, x)
        ob[WHERE, x] = T2
        qs[QBYTES, T2] += s
    else:
        push_head(ob, qs, T1, x)
        ob[WHERE, x] = T1
        qs[QBYTES, T1] += s
    ob[OSIZE, x] = s


_REPLAY = make_replay("arc", lookup, evict, insert, on_miss)


def arc_state(cap: int, n_obj: int, n_req: int, **_: object) -> State:
    """ARC's empty state."""
    return new_state(n_obj, queues=4, regs=(cap, -1, 0), fregs=(0.0,))


def arc(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, **kw: object) -> np.ndarray:
    """ARC hit flags."""
    return run(_REPLAY, ids, sizes, cap, arc_state(cap, n_obj, len(ids), **kw))
