"""The rules' vote as one compiled scalar function, shared by the per-request and the batch engine.

:meth:`supreme.strategy.rules.TradingRules.decide` calls :func:`vote` for the numbers and adds the
reasons; :mod:`supreme.strategy.batch` calls it in a compiled loop over many snapshots.  One
implementation, so a replayed signal and a served signal cannot drift apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

__all__ = ["ACTION_CODES", "VOTE_FIELDS", "vote", "vote_params"]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

#: Action codes of :func:`vote`: index into this tuple.
ACTION_CODES: tuple[str, ...] = ("HOLD", "BUY", "SELL")

#: Columns of the snapshot the vote reads, in the order :func:`vote` takes them.
VOTE_FIELDS: tuple[str, ...] = ("ema_fast", "ema_slow", "macd_hist", "rsi", "atr_pct", "bb_bandwidth")


@njit(cache=True)
def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


@njit(cache=True)
def vote(fast: float, slow: float, hist: float, rsi: float, atr_pct: float, bw: float,
         params: FloatArray) -> tuple[int, int, int, int, int, float, float]:
    """The rules' vote on one snapshot: (action, trend, macd, rsi votes, veto, score, confidence).

    ``params``: trend, macd, rsi weights, rsi oversold/overbought, atr_pct min/max, bandwidth
    min/max, threshold.  ``veto``: 0 none, 1 ATR%, 2 bandwidth.  NaN means "not defined".
    """
    diff = fast - slow
    v_trend = _sign(diff) if np.isfinite(diff) else 0
    v_macd = _sign(hist) if np.isfinite(hist) else 0
    v_rsi = 1 if rsi < params[3] else -1 if rsi > params[4] else 0
    total_w = params[0] + params[1] + params[2]
    score = 0.0
    score += params[0] * v_trend
    score += params[1] * v_macd
    score += params[2] * v_rsi
    score /= total_w
    score = min(1.0, max(-1.0, score))
    veto = 0
    if not (params[5] <= atr_pct <= params[6]):
        veto = 1
    elif not (params[7] <= bw <= params[8]):
        veto = 2
    if veto:
        action = 0
    elif score >= params[9]:
        action = 1
    elif score <= -params[9]:
        action = 2
    else:
        action = 0
    confidence = abs(score) if action != 0 else 1.0 - abs(score)
    return action, v_trend, v_macd, v_rsi, veto, score, min(1.0, max(0.0, confidence))


def vote_params(c: Any) -> FloatArray:
    """The float parameters :func:`vote` takes, from a RuleConfig."""
    return np.array([c.trend_weight, c.macd_weight, c.rsi_weight, c.rsi_oversold, c.rsi_overbought,
                     c.atr_pct_min, c.atr_pct_max, c.bandwidth_min, c.bandwidth_max, c.threshold],
                    dtype=np.float64)
