"""S3-FIFO kernel: a small FIFO, a main FIFO with lazy promotion, and a ghost FIFO of evicted ids."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from supreme.cache.kernels.driver import State, hook, make_replay, new_state, run
from supreme.cache.kernels.lists import HEAD, OSIZE, QBYTES, TAIL, WHERE, push_head, remove, unlink

__all__ = ["s3fifo", "s3fifo_state"]

SMALL, MAIN, GHOST = 0, 1, 2  # queues
FREQ = OSIZE + 1  # row of ob: hits since insertion or the last pass, capped at 3
# reg: queue size limits, the small -> main threshold, whether anything was evicted yet, this miss
# was found in the ghost queue
SMALL_SIZE, MAIN_SIZE, GHOST_SIZE, THRESHOLD, HAS_EVICTED, GHOST_HIT = range(6)


@hook
def lookup(x, s, i, ob, qs, reg, fo, fr, aux):
    w = ob[WHERE, x]
    if w != SMALL and w != MAIN:
        return False
    ob[FREQ, x] = min(ob[FREQ, x] + 1, 3)
    return True


@hook
def on_miss(x, s, i, ob, qs, reg, fo, fr, aux):
    reg[GHOST_HIT] = ob[WHERE, x] == GHOST
    if reg[GHOST_HIT]:
        qs[QBYTES, GHOST] -= remove(ob, qs, GHOST, x)


@hook
def _remember(v, ob, qs, reg):
    """Put the evicted ``v`` into the ghost queue (if it fits), dropping the oldest ghosts."""
    if ob[OSIZE, v] > reg[GHOST_SIZE]:
        return
    while qs[QBYTES, GHOST] + ob[OSIZE, v] > reg[GHOST_SIZE]:
        qs[QBYTES, GHOST] -= remove(ob, qs, GHOST, qs[TAIL, GHOST])
    push_head(ob, qs, GHOST, v)
    ob[WHERE, v] = GHOST
    qs[QBYTES, GHOST] += ob[OSIZE, v]


@hook
def evict(x, s, i, ob, qs, reg, fo, fr, aux):
    reg[HAS_EVICTED] = 1
    if not (qs[QBYTES, MAIN] > reg[MAIN_SIZE] or qs[HEAD, SMALL] < 0):
        while qs[HEAD, SMALL] >= 0:  # from the small queue: promote the re-used, evict the first other
            v = qs[TAIL, SMALL]
            unlink(ob, qs, SMALL, v)
            qs[QBYTES, SMALL] -= ob[OSIZE, v]
            if ob[FREQ, v] >= reg[THRESHOLD]:
                push_head(ob, qs, MAIN, v)
                ob[WHERE, v] = MAIN
                qs[QBYTES, MAIN] += ob[OSIZE, v]
                ob[FREQ, v] = 0
                continue
            ob[WHERE, v] = -1
            _remember(v, ob, qs, reg)
            return ob[OSIZE, v]
    while True:  # from the main queue: re-queue the re-used (one count less), evict the first other
        v = qs[TAIL, MAIN]
        f = ob[FREQ, v]
        unlink(ob, qs, MAIN, v)
        if f >= 1:
            push_head(ob, qs, MAIN, v)
            ob[FREQ, v] = min(f, 3) - 1
            continue
        ob[WHERE, v] = -1
        qs[QBYTES, MAIN] -= ob[OSIZE, v]
        return ob[OSIZE, v]


@hook
def insert(x, s, i, ob, qs, reg, fo, fr, aux):
    ob[FREQ, x] = 0
    ob[OSIZE, x] = s
    q = MAIN if reg[GHOST_HIT] or (not reg[HAS_EVICTED] and qs[QBYTES, SMALL] >= reg[SMALL_SIZE]) else SMALL
    push_head(ob, qs, q, x)
    ob[WHERE, x] = q
    qs[QBYTES, q] += s


_REPLAY = make_replay("s3fifo", lookup, evict, insert, on_miss)


def s3fifo_state(cap: int, n_obj: int, n_req: int, small_ratio: float = 0.1,
                 move_to_main_threshold: int = 2, **_: object) -> State:
    """S3-FIFO's empty state (queue sizes computed as in the class)."""
    small = max(1, int(cap * small_ratio))
    main = cap - small
    threshold = math.ceil(move_to_main_threshold)  # counts are whole: >= t is >= ceil(t)
    regs = (small, main, main, threshold, 0, 0)
    return new_state(n_obj, queues=3, obj_rows=1, regs=regs)


def s3fifo(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, **kw: Any) -> np.ndarray:
    """S3-FIFO hit flags (see :func:`s3fifo_state` for the parameters)."""
    return run(_REPLAY, ids, sizes, cap, s3fifo_state(cap, n_obj, len(ids), **kw))
