"""CLOCK kernel: a hit sets the id's reference bit; the hand (the tail) clears set bits as it passes."""

from __future__ import annotations

import numpy as np

from supreme.cache.kernels.driver import hook, make_replay, new_state, run
from supreme.cache.kernels.lists import OSIZE, TAIL, WHERE, push_head, unlink

__all__ = ["clock"]

REF = OSIZE + 1  # row of ob: the reference bit


@hook
def lookup(x, s, i, ob, qs, reg, fo, fr, aux):
    if ob[WHERE, x] != 0:
        return False
    ob[REF, x] = 1
    return True


@hook
def evict(x, s, i, ob, qs, reg, fo, fr, aux):
    while True:
        v = qs[TAIL, 0]
        unlink(ob, qs, 0, v)
        if ob[REF, v]:  # a second chance: to the head, bit cleared
            ob[REF, v] = 0
            push_head(ob, qs, 0, v)
            continue
        ob[WHERE, v] = -1
        return ob[OSIZE, v]


@hook
def insert(x, s, i, ob, qs, reg, fo, fr, aux):
    push_head(ob, qs, 0, x)
    ob[WHERE, x] = 0
    ob[REF, x] = 0
    ob[OSIZE, x] = s


_REPLAY = make_replay("clock", lookup, evict, insert)


def clock(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, **_: object) -> np.ndarray:
    """CLOCK hit flags."""
    return run(_REPLAY, ids, sizes, cap, new_state(n_obj, obj_rows=1))
