"""Signals for many closed candles in one compiled call: the replay shape of the Strategy_Engine.

The engine's signal at a candle is "the indicator snapshot of the last ``history`` closed candles,
then the rules' vote" (:mod:`supreme.strategy.rules`).  :func:`snapshot_windows` runs the very
snapshot kernel of :meth:`TradingRules.indicators` over each window, and :func:`vote_codes` runs the
vote of :meth:`TradingRules.decide` (which itself calls :func:`vote`), so every value here is
bit-identical to what the per-request engine returns for the same candles.

Why windows and not O(1) incremental indicators: the engine's EMA/Wilder seeds sit at the start of
each window, so a recurrence over the whole history gives slightly different floats (relative 1e-7
after 200 candles) and, at a sign change of the MACD histogram, a different action.  Recomputing the
window in numba costs ~6 µs a candle, which is fast enough for the replay target without changing
what a signal means.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from supreme.strategy import indicator_kernels as kern
from supreme.strategy.rules import TradingRules
from supreme.strategy.vote import VOTE_FIELDS, vote, vote_params

__all__ = ["snapshot_windows", "vote_codes"]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

_VOTE_INDEX = np.array([kern.SNAPSHOT_FIELDS.index(f) for f in VOTE_FIELDS], dtype=np.int64)


@njit(cache=True, parallel=True)
def _snapshot_windows(h: FloatArray, lo: FloatArray, c: FloatArray, v: FloatArray, ends: Any,
                      history: int, p: Any, nbdev: float) -> FloatArray:
    out = np.empty((ends.size, len(kern.SNAPSHOT_FIELDS)))
    # windows are independent: one per iteration, on every core (each result is the same floats
    # whatever thread computes it; a slice of a contiguous array is the contiguous window itself)
    for i in prange(ends.size):
        e = ends[i]
        s = max(0, e - history)
        out[i] = kern._snapshot_kernel(h[s:e], lo[s:e], c[s:e], v[s:e], p, nbdev)
    return out


def snapshot_windows(rules: TradingRules, high: FloatArray, low: FloatArray, close: FloatArray,
                     volume: FloatArray, ends: np.ndarray[Any, Any]) -> FloatArray:
    """Snapshot (columns ``SNAPSHOT_FIELDS``) of the ``history`` candles before each end index."""
    h, lo, c, v = (np.ascontiguousarray(a, dtype=np.float64) for a in (high, low, close, volume))
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    if ends.size and (int(ends.min()) < 0 or int(ends.max()) > c.size):
        raise IndexError(f"window ends must lie in [0, {c.size}]")
    return _snapshot_windows(h, lo, c, v, ends, rules.config.history, rules._periods, rules._nbdev)


@njit(cache=True)
def _vote_rows(snap: FloatArray, idx: Any, params: FloatArray) -> tuple[Any, FloatArray, FloatArray]:
    n = snap.shape[0]
    action = np.empty(n, np.int8)
    score = np.empty(n)
    conf = np.empty(n)
    for i in range(n):
        a, _t, _m, _r, _v, s, cf = vote(snap[i, idx[0]], snap[i, idx[1]], snap[i, idx[2]],
                                        snap[i, idx[3]], snap[i, idx[4]], snap[i, idx[5]], params)
        action[i] = a
        score[i] = s
        conf[i] = cf
    return action, score, conf


def vote_codes(rules: TradingRules, snapshot: FloatArray) -> tuple[Any, FloatArray, FloatArray]:
    """Action codes (see ``supreme.strategy.vote.ACTION_CODES``), scores and confidences of many snapshots."""
    return _vote_rows(np.ascontiguousarray(snapshot, dtype=np.float64), _VOTE_INDEX,
                      vote_params(rules.config))
