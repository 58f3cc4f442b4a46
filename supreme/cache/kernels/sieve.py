"""SIEVE kernel: CLOCK's bit ("visited") and queue, but a hand that moves from the tail towards the
head, clearing bits, and evicts in place (survivors are not moved)."""

from __future__ import annotations

import numpy as np

from supreme.cache.kernels.clock_eviction import REF, insert_unmarked, lookup_mark
from supreme.cache.kernels.driver import hook, make_replay, new_state, run
from supreme.cache.kernels.lists import PREV, TAIL, remove

__all__ = ["sieve"]

HAND = 0  # reg: the id the hand points at (-1: the tail)


@hook
def evict(x, s, i, ob, qs, reg, fo, fr, aux):
    hand = reg[HAND]
    o = hand if hand >= 0 else qs[TAIL, 0]
    while ob[REF, o]:
        ob[REF, o] = 0
        o = ob[PREV, o]  # towards the head (newer)
        if o < 0:
            o = qs[TAIL, 0]
    reg[HAND] = ob[PREV, o]
    return remove(ob, qs, 0, o)


_REPLAY = make_replay("sieve", lookup_mark, evict, insert_unmarked)


def sieve(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, **_: object) -> np.ndarray:
    """SIEVE hit flags."""
    return run(_REPLAY, ids, sizes, cap, new_state(n_obj, obj_rows=1, regs=(-1,)))
