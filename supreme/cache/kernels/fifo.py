"""FIFO kernel: LRU's queue without the move on a hit."""

from __future__ import annotations

import numpy as np

from supreme.cache.kernels.driver import State, hook, make_replay, new_state, run
from supreme.cache.kernels.lists import WHERE
from supreme.cache.kernels.lru import evict_tail, insert_head

__all__ = ["fifo", "fifo_state"]


@hook
def lookup(x, s, i, ob, qs, reg, fo, fr, aux):
    return ob[WHERE, x] == 0


_REPLAY = make_replay("fifo", lookup, evict_tail, insert_head)


def fifo_state(cap: int, n_obj: int, n_req: int, **_: object) -> State:
    """FIFO's empty state."""
    return new_state(n_obj)


def fifo(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, **kw: object) -> np.ndarray:
    """FIFO hit flags."""
    return run(_REPLAY, ids, sizes, cap, fifo_state(cap, n_obj, len(ids), **kw))
