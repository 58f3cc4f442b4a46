"""LRU kernel: one queue, a hit moves its id to the head, the tail is evicted."""

from __future__ import annotations

import numpy as np

from supreme.cache.kernels.driver import State, hook, make_replay, new_state, run
from supreme.cache.kernels.lists import OSIZE, TAIL, WHERE, push_head, remove, unlink

__all__ = ["evict_tail", "insert_head", "lru", "lru_state"]


@hook
def lookup(x, s, i, ob, qs, reg, fo, fr, aux):
    if ob[WHERE, x] != 0:
        return False
    unlink(ob, qs, 0, x)
    push_head(ob, qs, 0, x)
    return True


@hook
def evict_tail(x, s, i, ob, qs, reg, fo, fr, aux):
    """Drop the tail of queue 0; the bytes freed."""
    return remove(ob, qs, 0, qs[TAIL, 0])


@hook
def insert_head(x, s, i, ob, qs, reg, fo, fr, aux):
    """Put ``x`` at the head of queue 0."""
    push_head(ob, qs, 0, x)
    ob[WHERE, x] = 0
    ob[OSIZE, x] = s


_REPLAY = make_replay("lru", lookup, evict_tail, insert_head)


def lru_state(cap: int, n_obj: int, n_req: int, **_: object) -> State:
    """LRU's empty state."""
    return new_state(n_obj)


def lru(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, **kw: object) -> np.ndarray:
    """LRU hit flags."""
    return run(_REPLAY, ids, sizes, cap, lru_state(cap, n_obj, len(ids), **kw))
