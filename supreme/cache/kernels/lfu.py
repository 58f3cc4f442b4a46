"""LFU kernel: one queue per frequency (ties: least recent first), O(1) per request."""

from __future__ import annotations

import numpy as np

from supreme.cache.kernels.driver import State, hook, make_replay, new_state, run
from supreme.cache.kernels.lists import HEAD, OSIZE, TAIL, push_head, unlink

__all__ = ["lfu", "lfu_state"]

FREQ = OSIZE + 1  # row of ob: the id's count (0: not cached)
MINF = 0  # reg: the lowest frequency whose queue may be non-empty


@hook
def lookup(x, s, i, ob, qs, reg, fo, fr, aux):
    f = ob[FREQ, x]
    if f <= 0:
        return False
    unlink(ob, qs, f, x)
    if qs[HEAD, f] < 0 and reg[MINF] == f:
        reg[MINF] = f + 1
    ob[FREQ, x] = f + 1
    push_head(ob, qs, f + 1, x)
    return True


@hook
def evict(x, s, i, ob, qs, reg, fo, fr, aux):
    minf = reg[MINF]
    while qs[TAIL, minf] < 0:
        minf += 1
    reg[MINF] = minf
    v = qs[TAIL, minf]
    unlink(ob, qs, minf, v)
    ob[FREQ, v] = 0
    return ob[OSIZE, v]


@hook
def insert(x, s, i, ob, qs, reg, fo, fr, aux):
    ob[FREQ, x] = 1
    push_head(ob, qs, 1, x)
    reg[MINF] = 1
    ob[OSIZE, x] = s


_REPLAY = make_replay("lfu", lookup, evict, insert)


def lfu_state(cap: int, n_obj: int, n_req: int, **_: object) -> State:
    """LFU's empty state for up to ``n_req`` requests."""
    # a count never exceeds the number of requests: one queue per possible count
    return new_state(n_obj, queues=n_req + 2, obj_rows=1, regs=(1,))


def lfu(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, **kw: object) -> np.ndarray:
    """LFU hit flags."""
    return run(_REPLAY, ids, sizes, cap, lfu_state(cap, n_obj, len(ids), **kw))
