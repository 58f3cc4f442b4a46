"""W-TinyLFU kernel: an LRU window, a segmented main area (probation, protected) and a count-min
sketch that admits a window candidate only if it is more frequent than main's victim."""

from __future__ import annotations

from typing import Any

import numpy as np

from supreme.cache.kernels.driver import State, hook, make_replay, new_state, run
from supreme.cache.kernels.lists import HEAD, OSIZE, QBYTES, QCOUNT, TAIL, WHERE, push_head, unlink

__all__ = ["wtinylfu", "wtinylfu_state"]

WINDOW, PROBATION, PROTECTED = 0, 1, 2  # queues
# reg: segment sizes, the sketch's sample (halve every count after this many increments), increments
WINDOW_SIZE, MAIN_SIZE, PROTECTED_SIZE, SAMPLE, ADDED = range(5)

# the sketch's row seeds: the class's (supreme.cache.policies.sketch), so both hash alike
_SEEDS = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93],
                  dtype=np.uint64)


@hook
def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@hook
def _estimate(table, x):
    mask = np.uint64(table.shape[1] - 1)
    h = np.uint64(x)
    best = 255
    for r in range(4):
        c = table[r, np.int64(_mix64(h + _SEEDS[r]) & mask)]
        if c < best:
            best = c
    return best


@hook
def _increment(table, reg, x):
    mask = np.uint64(table.shape[1] - 1)
    h = np.uint64(x)
    for r in range(4):
        j = np.int64(_mix64(h + _SEEDS[r]) & mask)
        if table[r, j] < 15:
            table[r, j] += 1
    reg[ADDED] += 1
    if reg[ADDED] >= reg[SAMPLE]:
        for r in range(4):
            for c in range(table.shape[1]):
                table[r, c] >>= 1
        reg[ADDED] //= 2


@hook
def _take(ob, qs, q, x):
    unlink(ob, qs, q, x)
    qs[QBYTES, q] -= ob[OSIZE, x]
    qs[QCOUNT, q] -= 1


@hook
def _put(ob, qs, q, x):
    push_head(ob, qs, q, x)
    ob[WHERE, x] = q
    qs[QBYTES, q] += ob[OSIZE, x]
    qs[QCOUNT, q] += 1


@hook
def _main_bytes(qs):
    return qs[QBYTES, PROBATION] + qs[QBYTES, PROTECTED]


@hook
def lookup(x, s, i, ob, qs, reg, fo, fr, aux):
    w = ob[WHERE, x]
    if w < 0:
        return False
    _increment(aux, reg, x)
    if w == PROBATION:  # a second hit: protected; protected's overflow goes back to probation
        _take(ob, qs, PROBATION, x)
        _put(ob, qs, PROTECTED, x)
        while qs[QBYTES, PROTECTED] > reg[PROTECTED_SIZE] and qs[QCOUNT, PROTECTED] > 1:
            d = qs[TAIL, PROTECTED]
            _take(ob, qs, PROTECTED, d)
            _put(ob, qs, PROBATION, d)
    else:
        unlink(ob, qs, w, x)
        push_head(ob, qs, w, x)
    return True


@hook
def evict(x, s, i, ob, qs, reg, fo, fr, aux):
    main_size = reg[MAIN_SIZE]
    while True:
        if _main_bytes(qs) > main_size or qs[HEAD, WINDOW] < 0:
            q = PROBATION if qs[HEAD, PROBATION] >= 0 else PROTECTED
            if qs[HEAD, q] >= 0:
                victim = qs[TAIL, q]
                _take(ob, qs, q, victim)
                break
        c = qs[TAIL, WINDOW]  # the window's candidate: into main if there is room, else a duel
        _take(ob, qs, WINDOW, c)
        if _main_bytes(qs) + ob[OSIZE, c] <= main_size:
            _put(ob, qs, PROBATION, c)
            continue
        q = PROBATION if qs[HEAD, PROBATION] >= 0 else PROTECTED
        if qs[HEAD, q] < 0:
            victim = c
            break
        v = qs[TAIL, q]
        if _estimate(aux, c) > _estimate(aux, v):
            _take(ob, qs, q, v)
            _put(ob, qs, PROBATION, c)
            victim = v
        else:
            victim = c
        break
    ob[WHERE, victim] = -1
    return ob[OSIZE, victim]


@hook
def insert(x, s, i, ob, qs, reg, fo, fr, aux):
    _increment(aux, reg, x)
    ob[OSIZE, x] = s
    _put(ob, qs, WINDOW, x)
    while qs[QBYTES, WINDOW] > reg[WINDOW_SIZE]:
        c = qs[TAIL, WINDOW]
        if _main_bytes(qs) + ob[OSIZE, c] > reg[MAIN_SIZE]:
            break
        _take(ob, qs, WINDOW, c)
        _put(ob, qs, PROBATION, c)


_REPLAY = make_replay("wtinylfu", lookup, evict, insert)


def wtinylfu_state(cap: int, n_obj: int, n_req: int, window_ratio: float = 0.01,
                   protected_ratio: float = 0.8, **_: object) -> State:
    """W-TinyLFU's empty state (segment sizes and sketch width as in the class)."""
    window = max(1, int(cap * window_ratio))
    main = max(1, cap - window)
    protected = int(main * protected_ratio)
    width = 16
    while width < cap:
        width *= 2
    state = new_state(n_obj, queues=3, regs=(window, main, protected, max(1, 10 * cap), 0),
                      aux=np.zeros((4, width), np.int64))
    return state


def wtinylfu(ids: np.ndarray, sizes: np.ndarray, cap: int, n_obj: int, **kw: Any) -> np.ndarray:
    """W-TinyLFU hit flags (see :func:`wtinylfu_state` for the parameters)."""
    return run(_REPLAY, ids, sizes, cap, wtinylfu_state(cap, n_obj, len(ids), **kw))
