"""Vectorised technical indicators with TA-Lib's numbers and warm-up conventions.

Reference: TA-Lib (ta-lib.org, ``src/ta_func/ta_*.c``).  Every function takes 1-D float arrays, returns
arrays of the input length, and holds NaN during warm-up exactly where TA-Lib's Python wrapper does.
The kernels are numba ``@njit(cache=True)`` loops that follow TA-Lib's recurrences and (except
Wilder's smoothing, see RSI) its operation order, so the numbers agree to ~1e-12 relative (the parity
tests demand 1e-9).  Each kernel makes one pass, writes each output once and allocates only its outputs.

Warm-up conventions (first defined index, ``n`` the period):

============  ====================================================================================
SMA, WMA      ``n-1``.  SMA keeps a running sum; WMA TA-Lib's running ``periodSum/periodSub``.
EMA           ``n-1``, seeded with the SMA of the first ``n`` values, then ``prev + k*(x-prev)``,
              ``k = 2/(n+1)``.
RSI           ``n``.  Wilder: average gain/loss seeded with the plain mean of the first ``n``
              changes, then ``avg = (avg*(n-1) + x)/n`` computed as ``avg*keep + x*inv``
              (:func:`_wilder_weights`); ``RSI = 100*gain/(gain+loss)``.
MACD          ``slow-1 + signal-1`` for line, signal and histogram.  The classic pitfall: TA-Lib
              starts *both* EMAs at index ``slow-1``, so the fast EMA is seeded with the SMA of
              ``x[slow-fast : slow]`` (not of the first ``fast`` values); the signal EMA is seeded
              with the SMA of the first ``signal`` MACD values.
BBANDS        ``n-1``; middle = SMA; population std from running sums of ``x - K`` and ``(x - K)²``
              with an anchor ``K`` re-chosen every ``n`` values, two-pass around the SMA where
              those still cancel (the classic running sums of x and x² lose ~1e-6 relative to
              cancellation; TA-Lib 0.6+ is exact to ~1e-11, and so is this).
ATR           ``n``.  True range from index 1; seeded with the mean of TR[1..n], then Wilder
              (multiply-add form, as RSI); one pass, the true range computed in the loop.
STOCH         ``fastk-1 + slowk-1 + slowd-1`` (8 for 5/3/3) for both %K(slow) and %D; fast %K is
              ``(close-LL)/((HH-LL)/100)``, 0 when HH == LL; slow %K = SMA(fast %K), %D = SMA(%K).
OBV           0: ``obv[0] = volume[0]``, then ± volume by the sign of the close change.
VWAP          not in TA-Lib.  ``window=None``: anchored (cumulative from the first candle given);
              ``window=n``: rolling over the last ``n`` candles, defined from ``n-1``.  Price is the
              typical price ``(h+l+c)/3``; NaN while the volume summed so far is 0.
============  ====================================================================================

Departures from TA-Lib, on purpose:

* TA-Lib zeroes a Bollinger variance below a fixed epsilon and answers RSI 0 when average gain and
  loss are both (near) zero.  A fixed absolute epsilon is wrong for low-priced assets (ADA/BTC trades
  near 3e-5, where every honest variance is below 1e-14), so we zero only variances that are <= 0
  (rounding), and a window with no change at all has RSI 50 (neutral), not 0 (which reads as
  "extremely oversold").  Neither case occurs in the recorded data the parity tests use.
* Periods of 1 are accepted where the arithmetic is well defined (TA-Lib requires 2 for most).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from supreme.errors import SupremeError
from supreme.strategy.indicator_kernels import (
    _atr_kernel,
    _bbands_kernel,
    _ema_kernel,
    _macd_kernel,
    _obv_kernel,
    _rsi_kernel,
    _sma_kernel,
    _stoch_kernel,
    _true_range_kernel,
    _vwap_kernel,
    _wma_kernel,
)

__all__ = [
    "IndicatorInputError",
    "atr",
    "bbands",
    "ema",
    "macd",
    "macd_lookback",
    "obv",
    "rsi",
    "sma",
    "stoch",
    "stoch_lookback",
    "true_range",
    "vwap",
    "wma",
]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


class IndicatorInputError(SupremeError, ValueError):
    """An indicator was given a bad period or arrays of the wrong shape."""


# --------------------------------------------------------------------------- public wrappers


def _series(x: Any, name: str) -> FloatArray:
    arr = np.ascontiguousarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise IndicatorInputError(f"{name} must be a 1-D array, got shape {arr.shape}")
    return arr


def _same_length(**arrays: Any) -> list[FloatArray]:
    out = [_series(a, name) for name, a in arrays.items()]
    sizes = {name: a.size for name, a in zip(arrays, out, strict=True)}
    if len(set(sizes.values())) > 1:
        raise IndicatorInputError(f"input arrays differ in length: {sizes}")
    return out


def _period(n: Any, name: str = "period") -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise IndicatorInputError(f"{name} must be an integer >= 1, got {n!r}")
    return int(n)


def sma(x: Any, period: int = 30) -> FloatArray:
    """Simple moving average (TA-Lib SMA)."""
    return _sma_kernel(_series(x, "x"), _period(period))


def ema(x: Any, period: int = 30) -> FloatArray:
    """Exponential moving average seeded with the SMA of the first ``period`` values (TA-Lib EMA)."""
    return _ema_kernel(_series(x, "x"), _period(period))


def wma(x: Any, period: int = 30) -> FloatArray:
    """Linearly weighted moving average, weights 1..period (TA-Lib WMA)."""
    return _wma_kernel(_series(x, "x"), _period(period))


def rsi(x: Any, period: int = 14) -> FloatArray:
    """Relative strength index with Wilder smoothing (TA-Lib RSI; flat window -> 50)."""
    return _rsi_kernel(_series(x, "x"), _period(period))


def macd_lookback(fast: int = 12, slow: int = 26, signal: int = 9) -> int:
    """Index of MACD's first defined value."""
    return slow - 1 + signal - 1


def _check_macd(fast: int, slow: int, signal: int) -> tuple[int, int, int]:
    fast, slow, signal = _period(fast, "fast"), _period(slow, "slow"), _period(signal, "signal")
    if fast >= slow:
        raise IndicatorInputError(f"MACD fast period ({fast}) must be shorter than slow period ({slow})")
    return fast, slow, signal


def macd(
    x: Any, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """MACD line, signal line and histogram (TA-Lib MACD alignment: both EMAs start at ``slow-1``)."""
    fast, slow, signal = _check_macd(fast, slow, signal)
    line, sig, hist = _macd_kernel(_series(x, "x"), fast, slow, signal)
    return line, sig, hist


def bbands(
    x: Any, period: int = 20, nbdev_up: float = 2.0, nbdev_dn: float = 2.0
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bollinger Bands (upper, middle, lower) around the SMA with population std (TA-Lib BBANDS)."""
    for name, k in (("nbdev_up", nbdev_up), ("nbdev_dn", nbdev_dn)):
        if not np.isfinite(k):
            raise IndicatorInputError(f"{name} must be finite, got {k!r}")
    upper, mid, lower = _bbands_kernel(_series(x, "x"), _period(period), float(nbdev_up), float(nbdev_dn))
    return upper, mid, lower


def true_range(high: Any, low: Any, close: Any) -> FloatArray:
    """True range, defined from index 1 (TA-Lib TRANGE)."""
    h, lo, c = _same_length(high=high, low=low, close=close)
    return _true_range_kernel(h, lo, c)


def atr(high: Any, low: Any, close: Any, period: int = 14) -> FloatArray:
    """Average true range with Wilder smoothing (TA-Lib ATR)."""
    h, lo, c = _same_length(high=high, low=low, close=close)
    return _atr_kernel(h, lo, c, _period(period))


def stoch_lookback(fastk: int = 5, slowk: int = 3, slowd: int = 3) -> int:
    """Index of STOCH's first defined value."""
    return fastk - 1 + slowk - 1 + slowd - 1


def stoch(
    high: Any, low: Any, close: Any, fastk: int = 5, slowk: int = 3, slowd: int = 3
) -> tuple[FloatArray, FloatArray]:
    """Slow stochastic %K and %D with SMA smoothing (TA-Lib STOCH, matype 0)."""
    h, lo, c = _same_length(high=high, low=low, close=close)
    k, d = _stoch_kernel(
        h, lo, c, _period(fastk, "fastk"), _period(slowk, "slowk"), _period(slowd, "slowd")
    )
    return k, d


def obv(close: Any, volume: Any) -> FloatArray:
    """On-balance volume starting at the first volume (TA-Lib OBV)."""
    c, v = _same_length(close=close, volume=volume)
    return _obv_kernel(c, v)


def vwap(high: Any, low: Any, close: Any, volume: Any, window: int | None = None) -> FloatArray:
    """Volume-weighted typical price: anchored at the first candle, or rolling over ``window`` candles."""
    h, lo, c, v = _same_length(high=high, low=low, close=close, volume=volume)
    w = 0 if window is None else _period(window, "window")
    return _vwap_kernel(h, lo, c, v, w)
