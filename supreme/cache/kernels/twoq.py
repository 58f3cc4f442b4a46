"""2Q kernel: A1in FIFO (queue 0), Am LRU (queue 1), A1out ghost FIFO (queue 2), as the class."""

from __future__ import annotations

from typing import Any

import numpy as np

from supreme.cache.kernels.driver import State, hook, make_replay, new_state, run
from supreme.cache.kernels.lists import HEAD, OSIZE, QBYTES, TAIL, WHERE, push_head, remove, unlink

__all__ = ["twoq", "twoq_state"]

A1IN, AM, A1OUT = 0, 1, 2  # queues (and WHERE values)
KIN, KOUT, GHOST_HIT = range(3)  # reg


@hook
def lookup(x, s, i, ob, qs, reg, fo, fr, aux):
    w = ob[WHERE, x]
    if w == AM:
        unlink(ob, qs, AM, x)
        push_head(ob, qs, AM, x)
        return True
    return w == A1IN


@hook
def on_miss(x, s, i, ob, qs, reg, fo, fr, aux):
    reg[GHOST_HIT] = ob[WHERE, x] == A1OUT
    if reg[GHOST_HIT]:
        qs[QBYTES, A1OUT] -= remove(ob, qs, A1OUT, x)


@hook
def _remember(v, ob, qs, reg):
    if ob[OSIZE, v] > reg[KOUT]:
        return
    while qs[QBYTES, A1OUT] + ob[OSIZE, v] > reg[KOUT]:
        qs[QBYTES, A1OUT] -= remove(ob, qs, A1OUT, qs[TAIL, A1OUT])
    push_head(ob, qs, A1OUT, v)
    ob[WHERE, v] = A1OUT
    qs[QBYTES, A1OUT] += ob[OSIZE, v]


@hook
def evict(x, s, i, ob, qs, reg, fo, fr, aux):
    if qs[HEAD, A1IN] >= 0 and (qs[QBYTES, A1IN] > reg[KIN] or qs[HEAD, AM] < 0):
        v = qs[TAIL, A1IN]
        size = remove(ob, qs, A1IN, v)
        qs[QBYTES, A1IN] -= size
        _remember(v, ob, qs, reg)
        return size
    return remove(ob, qs, AM, qs[TAIL, AM])


@hook
def insert(x, s, i, ob, qs, reg, fo, fr, aux):
    q = AM if reg[GHOST_HIT] else A1IN
    reg[GHOST_HIT] = 0
    push_head(ob, qs, q, x)
    ob[WHERE, x] = q
    ob[OSIZE, x] = s
    if q == A1IN:
        qs[QBYTES, A1IN] += s


_REPLAY = make_replay("twoq", lookup, evict, insert, on_miss)


def twoq_state(cap: int, n_obj: int, n_req: int, in_ratio: float = 0.25, out_ratio: float = 0.5,
               **_: object) -> State:
    """2Q's empty state (``Kin``/``Kout`` computed as in the class)."""
    regs = (max(1, int(cap * in_ratio)), max(1, int(cap * out_ratio)), 0)
    return new_state(n_obj, queues=3, regs=regs)


def twoq(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, **kw: Any) -> np.ndarray:
    """2Q hit flags."""
    return run(_REPLAY, ids, sizes, cap, twoq_state(cap, n_obj, len(ids), **kw))
