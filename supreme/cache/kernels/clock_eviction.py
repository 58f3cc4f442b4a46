"""CLOCK kernel: a hit sets the id's reference bit; the hand (the tail) clears set bits as it passes."""

from __future__ import annotations

import numpy as np

from supreme.cache.kernels.driver import State, hook, make_replay, new_state, run
from supreme.cache.kernels.lists import OSIZE, TAIL, WHERE, push_head, remove, unlink
from supreme.cache.kernels.lru import insert_head

__all__ = ["REF", "clock", "clock_state", "insert_unmarked", "lookup_mark"]

REF = OSIZE + 1  # row of ob: the reference bit


@hook
def lookup_mark(x, s, i, ob, qs, reg, fo, fr, aux):
    """A hit on queue 0 sets the id's ``REF`` bit (and moves nothing)."""
    if ob[WHERE, x] != 0:
        return False
    ob[REF, x] = 1
    return True


@hook
def insert_unmarked(x, s, i, ob, qs, reg, fo, fr, aux):
    """Insert at the head of queue 0 with the ``REF`` bit clear."""
    insert_head(x, s, i, ob, qs, reg, fo, fr, aux)
    ob[REF, x] = 0


@hook
def evict(x, s, i, ob, qs, reg, fo, fr, aux):
    while True:
        v = qs[TAIL, 0]
        if not ob[REF, v]:
            return remove(ob, qs, 0, v)
        ob[REF, v] = 0  # a second chance: to the head, bit cleared
        unlink(ob, qs, 0, v)
        push_head(ob, qs, 0, v)


_REPLAY = make_replay("clock", lookup_mark, evict, insert_unmarked)


def clock_state(cap: int, n_obj: int, n_req: int, **_: object) -> State:
    """CLOCK's empty state."""
    return new_state(n_obj, obj_rows=1)


def clock(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, **kw: object) -> np.ndarray:
    """CLOCK hit flags."""
    return run(_REPLAY, ids, sizes, cap, clock_state(cap, n_obj, len(ids), **kw))
