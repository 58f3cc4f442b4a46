"""The replay loop every kernel shares, specialised per policy by its hooks.

The loop (a policy's *get* path, as in the classes of :mod:`supreme.cache.policies`)::

    for each request i of id x and size s:
        lookup(x)  -> hit: flag it, done          (the policy's hit update inside)
        s > cap    -> skip (never cached)
        on_miss(x)                                (e.g. ARC's ghost adaptation)
        while used + s > cap: used -= evict()     (bytes freed; 0 when a victim was only re-queued)
        insert(x); used += s
    return used                                   (the bytes held: a later call resumes from them)

A policy supplies the four hooks (``@hook`` functions of signature
``(x, s, i, ob, qs, reg, fo, fr, aux)``) and its :class:`State`; :func:`make_replay` compiles one
loop per policy: the same code with the policy's hooks as its globals, so numba inlines them (and
everything they call) into one function, as fast as a hand-written kernel.  Hooks passed as
function *arguments* were measured 1.6-2.5x slower (not inlined) and never load from the cache
(numba keys a function-typed argument on the object, so every process compiles and stores anew).

The loop allocates nothing (all state comes from :func:`new_state`, in Python), so it is compiled
without numba's reference counting (``_nrt=False``, numba's option for allocation-free code): with
it, each inlined hook call pays atomic increments and decrements on the six state arrays, which
made the LRFU and W-TinyLFU kernels 1.5-3x slower than before the split.

Caching: each loop is cached on disk (``cache=True``) under a name carrying a digest of every module
of this package.  Numba checks only the file of the function it caches, while the loop inlines code
from the policy's module and :mod:`.lists`; with the digest, an edit anywhere in the package
compiles the kernels afresh instead of loading stale ones (the old files stay in ``__pycache__``).
"""

from __future__ import annotations

import hashlib
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numba import njit

from supreme.cache.kernels.lists import OSIZE, QBYTES

__all__ = ["State", "hook", "make_replay", "new_state", "no_miss", "run"]

#: a hook, or a helper of one: inlined into the policy's loop (never compiled on its own)
hook = njit(inline="always")


class State(NamedTuple):
    """A kernel's arrays (every hook gets all six; a policy uses what it needs)."""

    ob: np.ndarray  # int64 (rows, n_obj): PREV, NEXT, WHERE, OSIZE, then the policy's per-id rows
    qs: np.ndarray  # int64 (4, n_queues): HEAD, TAIL, QBYTES, QCOUNT
    reg: np.ndarray  # int64: the policy's parameters and scalar state
    fo: np.ndarray  # float64 (rows, n_obj): per-id floats
    fr: np.ndarray  # float64: float parameters and scalar state
    aux: np.ndarray  # int64 2-D: anything else (heaps, a sketch, next-access positions)


def new_state(n_obj: int, *, queues: int = 1, obj_rows: int = 0, regs: tuple[int, ...] = (),
              float_rows: int = 0, fregs: tuple[float, ...] = (), aux: np.ndarray | None = None) -> State:
    """Empty queues, ids nowhere (``WHERE`` -1) of size 0; the policy's own rows start at 0."""
    ob = np.full((OSIZE + 1 + obj_rows, n_obj), -1, np.int64)
    ob[OSIZE:] = 0
    qs = np.full((4, queues), -1, np.int64)
    qs[QBYTES:] = 0
    return State(ob, qs, np.array(regs or (0,), np.int64), np.zeros((float_rows, n_obj)),
                 np.array(fregs or (0.0,), np.float64),
                 np.zeros((1, 1), np.int64) if aux is None else np.ascontiguousarray(aux, np.int64))


@hook
def no_miss(x, s, i, ob, qs, reg, fo, fr, aux):
    """The ``on_miss`` of a policy with nothing to do before it evicts."""


def _unbound(*_: Any) -> Any:
    raise TypeError("the replay template runs only as compiled by make_replay")


# the hook names _replay calls: make_replay binds a policy's in place of these
lookup = on_miss = evict = insert = _unbound


def _replay(ids, sizes, cap, hits, used, ob, qs, reg, fo, fr, aux):
    for i in range(ids.shape[0]):
        x = ids[i]
        s = sizes[i]
        if lookup(x, s, i, ob, qs, reg, fo, fr, aux):
            hits[i] = 1
            continue
        if s > cap:
            continue
        on_miss(x, s, i, ob, qs, reg, fo, fr, aux)
        while used + s > cap:
            used -= evict(x, s, i, ob, qs, reg, fo, fr, aux)
        insert(x, s, i, ob, qs, reg, fo, fr, aux)
        used += s
    return used


def _package_digest() -> str:
    text = b"".join(p.read_bytes() for p in sorted(Path(__file__).parent.glob("*.py")))
    return hashlib.sha1(text, usedforsecurity=False).hexdigest()[:12]


_DIGEST = _package_digest()
#: the loop's compile options: cached, no reference counting (a target option numba's stubs omit)
_OPTIONS: dict[str, Any] = {"cache": True, "_nrt": False}


def make_replay(name: str, lookup: Callable[..., Any], evict: Callable[..., Any],
                insert: Callable[..., Any], on_miss: Callable[..., Any] = no_miss) -> Callable[..., int]:
    """The compiled loop of policy ``name`` with its hooks inlined (cached on disk)."""
    scope = dict(_replay.__globals__, lookup=lookup, on_miss=on_miss, evict=evict, insert=insert)
    fn = types.FunctionType(_replay.__code__, scope, f"replay_{name}_{_DIGEST}")
    fn.__qualname__ = fn.__name__  # numba names the cache file after it
    replay: Callable[..., int] = njit(**_OPTIONS)(fn)
    return replay


def run(replay: Callable[..., int], ids: np.ndarray, sizes: np.ndarray, cap: int,
        state: State) -> np.ndarray:
    """Hit flags (uint8 per request) of one replay of ``ids`` through a fresh ``state``."""
    hits = np.zeros(len(ids), np.uint8)
    replay(ids, sizes, cap, hits, 0, *state)
    return hits

