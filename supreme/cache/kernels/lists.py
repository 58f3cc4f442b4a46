"""The kernels' state rows, and intrusive doubly linked lists over them.

One pair of ``PREV``/``NEXT`` rows holds every queue of a policy (an id is in at most one queue at a
time, recorded in ``WHERE``); queue heads are the newest/MRU end, tails the oldest/LRU end.
Like the hooks, these are inlined into each policy's loop (see :mod:`.driver`).
"""

from __future__ import annotations

from numba import njit

__all__ = ["HEAD", "NEXT", "OSIZE", "PREV", "QBYTES", "QCOUNT", "TAIL", "WHERE", "push_head", "remove",
           "unlink"]

#: rows of ``ob`` (int64, one column per dense id) every kernel has; a policy's own rows follow
PREV, NEXT, WHERE, OSIZE = 0, 1, 2, 3
#: rows of ``qs`` (int64, one column per queue)
HEAD, TAIL, QBYTES, QCOUNT = 0, 1, 2, 3


@njit(inline="always")
def push_head(ob, qs, q, x):
    """Make ``x`` the head (newest end) of queue ``q``."""
    h = qs[HEAD, q]
    ob[PREV, x] = -1
    ob[NEXT, x] = h
    if h >= 0:
        ob[PREV, h] = x
    else:
        qs[TAIL, q] = x
    qs[HEAD, q] = x


@njit(inline="always")
def unlink(ob, qs, q, x):
    """Take ``x`` out of queue ``q``."""
    p = ob[PREV, x]
    n = ob[NEXT, x]
    if p >= 0:
        ob[NEXT, p] = n
    else:
        qs[HEAD, q] = n
    if n >= 0:
        ob[PREV, n] = p
    else:
        qs[TAIL, q] = p
    ob[PREV, x] = -1
    ob[NEXT, x] = -1


@njit(inline="always")
def remove(ob, qs, q, x):
    """Take ``x`` out of queue ``q`` and out of the cache (``WHERE`` -1); its size."""
    unlink(ob, qs, q, x)
    ob[WHERE, x] = -1
    return ob[OSIZE, x]
