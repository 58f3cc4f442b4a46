"""SIEVE kernel: a hit sets the visited bit; the hand moves from the tail to the head, clearing bits."""

from __future__ import annotations

import numpy as np

from supreme.cache.kernels.driver import hook, make_replay, new_state, run
from supreme.cache.kernels.lists import OSIZE, PREV, TAIL, WHERE, push_head, unlink

__all__ = ["sieve"]

VISITED = OSIZE + 1  # row of ob
HAND = 0  # reg: the id the hand points at (-1: the tail)


@hook
def lookup(x, s, i, ob, qs, reg, fo, fr, aux):
    if ob[WHERE, x] != 0:
        return False
    ob[VISITED, x] = 1
    return True


@hook
def evict(x, s, i, ob, qs, reg, fo, fr, aux):
    hand = reg[HAND]
    o = hand if hand >= 0 else qs[TAIL, 0]
    while ob[VISITED, o]:
        ob[VISITED, o] = 0
        o = ob[PREV, o]  # towards the head (newer)
        if o < 0:
            o = qs[TAIL, 0]
    reg[HAND] = ob[PREV, o]
    unlink(ob, qs, 0, o)
    ob[WHERE, o] = -1
    return ob[OSIZE, o]


@hook
def insert(x, s, i, ob, qs, reg, fo, fr, aux):
    push_head(ob, qs, 0, x)
    ob[WHERE, x] = 0
    ob[VISITED, x] = 0
    ob[OSIZE, x] = s


_REPLAY = make_replay("sieve", lookup, evict, insert)


def sieve(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, **_: object) -> np.ndarray:
    """SIEVE hit flags."""
    return run(_REPLAY, ids, sizes, cap, new_state(n_obj, obj_rows=1, regs=(-1,)))
