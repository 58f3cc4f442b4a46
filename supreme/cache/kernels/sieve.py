"""SIEVE kernel: CLOCK's bit ("visited") and queue, but a hand that moves from the tail towards the
head, clearing bits, and evicts in place (survivors are not moved)."""

from __future__ import annotations

import numpy as np

from supreme.cache.kernels.clock_eviction import REF, insert_unmarked, lookup_mark
from supreme.cache.kernels.driver import State, hook, make_replay, new_state, run
from supreme.cache.kernels.lists import PREV, TAIL, remove

__all__ = ["sieve", "sieve_state"]

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


def sieve_state(cap: int, n_obj: int, n_req: int, **_: object) -> State:
    """SIEVE's empty state."""
    return new_state(n_obj, obj_rows=1, regs=(-1,))


def sieve(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, **kw: object) -> np.ndarray:
    """SIEVE hit flags."""
    return run(_REPLAY, ids, sizes, cap, sieve_state(cap, n_obj, len(ids), **kw))
