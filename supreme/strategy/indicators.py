"""Vectorised technical indicators with TA-Lib's numbers and warm-up conventions.

Reference: TA-Lib (ta-lib.org, ``src/ta_func/ta_*.c``).  Every function takes 1-D float arrays, returns
arrays of the input length, and holds NaN during warm-up exactly where TA-Lib's Python wrapper does.
The kernels are numba ``@njit(cache=True)`` loops that follow TA-Lib's recurrences and operation order,
so the numbers agree to ~1e-12 relative (the parity tests demand 1e-9).

Warm-up conventions (first defined index, ``n`` the period):

============  ====================================================================================
SMA, WMA      ``n-1``.  SMA keeps a running sum; WMA TA-Lib's running ``periodSum/periodSub``.
EMA           ``n-1``, seeded with the SMA of the first ``n`` values, then ``prev + k*(x-prev)``,
              ``k = 2/(n+1)``.
RSI           ``n``.  Wilder: average gain/loss seeded with the plain mean of the first ``n``
              changes, then ``avg = (avg*(n-1) + x)/n``; ``RSI = 100*gain/(gain+loss)``.
MACD          ``slow-1 + signal-1`` for line, signal and histogram.  The classic pitfall: TA-Lib
              starts *both* EMAs at index ``slow-1``, so the fast EMA is seeded with the SMA of
              ``x[slow-fast : slow]`` (not of the first ``fast`` values); the signal EMA is seeded
              with the SMA of the first ``signal`` MACD values.
BBANDS        ``n-1``; middle = SMA; population std, two-pass around the SMA (the classic running
              sums of x and x² lose ~1e-6 relative to cancellation; TA-Lib 0.6+ is exact to ~1e-11).
ATR           ``n``.  True range from index 1; seeded with the mean of TR[1..n], then Wilder.
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
from numba import njit

from supreme.errors import SupremeError

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


# --------------------------------------------------------------------------- kernels


@njit(cache=True)
def _sma_kernel(x: FloatArray, n: int) -> FloatArray:
    out = np.full(x.size, np.nan)
    if x.size < n:
        return out
    total = 0.0
    for i in range(n - 1):
        total += x[i]
    for i in range(n - 1, x.size):
        total += x[i]
        out[i] = total / n
        total -= x[i - n + 1]
    return out


@njit(cache=True)
def _ema_fill(x: FloatArray, n: int, k: float, start: int, out: FloatArray) -> None:
    # Seed at ``start`` with the SMA of the n values ending there (TA_INT_EMA's convention).
    total = 0.0
    for i in range(start - n + 1, start + 1):
        total += x[i]
    prev = total / n
    out[start] = prev
    for i in range(start + 1, x.size):
        prev = (x[i] - prev) * k + prev
        out[i] = prev


@njit(cache=True)
def _ema_kernel(x: FloatArray, n: int) -> FloatArray:
    out = np.full(x.size, np.nan)
    if x.size >= n:
        _ema_fill(x, n, 2.0 / (n + 1), n - 1, out)
    return out


@njit(cache=True)
def _wma_kernel(x: FloatArray, n: int) -> FloatArray:
    out = np.full(x.size, np.nan)
    if x.size < n:
        return out
    divider = (n * (n + 1)) // 2
    period_sum = 0.0
    period_sub = 0.0
    for i in range(n - 1):
        period_sub += x[i]
        period_sum += x[i] * (i + 1)
    trailing_value = 0.0
    for i in range(n - 1, x.size):
        v = x[i]
        period_sub += v
        period_sub -= trailing_value
        period_sum += v * n
        trailing_value = x[i - n + 1]
        out[i] = period_sum / divider
        period_sum -= period_sub
    return out


@njit(cache=True)
def _rsi_value(gain: float, loss: float) -> float:
    total = gain + loss
    if total > 0.0:
        return 100.0 * (gain / total)
    return 50.0


@njit(cache=True)
def _rsi_kernel(x: FloatArray, n: int) -> FloatArray:
    out = np.full(x.size, np.nan)
    if x.size <= n:
        return out
    gain = 0.0
    loss = 0.0
    for i in range(1, n + 1):
        d = x[i] - x[i - 1]
        if d < 0:
            loss -= d
        else:
            gain += d
    loss /= n
    gain /= n
    out[n] = _rsi_value(gain, loss)
    for i in range(n + 1, x.size):
        d = x[i] - x[i - 1]
        loss *= n - 1
        gain *= n - 1
        if d < 0:
            loss -= d
        else:
            gain += d
        loss /= n
        gain /= n
        out[i] = _rsi_value(gain, loss)
    return out


@njit(cache=True)
def _macd_kernel(x: FloatArray, fast: int, slow: int, signal: int) -> tuple[FloatArray, ...]:
    size = x.size
    line = np.full(size, np.nan)
    sig = np.full(size, np.nan)
    hist = np.full(size, np.nan)
    first = slow - 1 + signal - 1
    if size <= first:
        return line, sig, hist
    slow_ema = np.full(size, np.nan)
    fast_ema = np.full(size, np.nan)
    _ema_fill(x, slow, 2.0 / (slow + 1), slow - 1, slow_ema)
    _ema_fill(x, fast, 2.0 / (fast + 1), slow - 1, fast_ema)  # fast starts where slow does
    raw = fast_ema[slow - 1:] - slow_ema[slow - 1:]
    sig_raw = np.full(raw.size, np.nan)
    _ema_fill(raw, signal, 2.0 / (signal + 1), signal - 1, sig_raw)
    for i in range(first, size):
        j = i - (slow - 1)
        line[i] = raw[j]
        sig[i] = sig_raw[j]
        hist[i] = raw[j] - sig_raw[j]
    return line, sig, hist


@njit(cache=True)
def _bbands_kernel(x: FloatArray, n: int, up: float, dn: float) -> tuple[FloatArray, ...]:
    mid = _sma_kernel(x, n)
    upper = np.full(x.size, np.nan)
    lower = np.full(x.size, np.nan)
    if x.size < n:
        return upper, mid, lower
    # Two-pass variance around the SMA, O(n) per value: the running E[x^2] - E[x]^2 (classic
    # TA-Lib) loses up to 1e-6 relative on prices near 1e3 and current TA-Lib no longer does it.
    for i in range(n - 1, x.size):
        m = mid[i]
        acc = 0.0
        for j in range(i - n + 1, i + 1):
            d = x[j] - m
            acc += d * d
        var = acc / n
        sd = np.sqrt(var) if var > 0.0 else 0.0
        upper[i] = m + sd * up
        lower[i] = m - sd * dn
    return upper, mid, lower


@njit(cache=True)
def _true_range_kernel(h: FloatArray, lo: FloatArray, c: FloatArray) -> FloatArray:
    out = np.full(h.size, np.nan)
    for i in range(1, h.size):
        prev = c[i - 1]
        greatest = h[i] - lo[i]
        v2 = abs(prev - h[i])
        if v2 > greatest:
            greatest = v2
        v3 = abs(lo[i] - prev)
        if v3 > greatest:
            greatest = v3
        out[i] = greatest
    return out


@njit(cache=True)
def _atr_kernel(h: FloatArray, lo: FloatArray, c: FloatArray, n: int) -> FloatArray:
    tr = _true_range_kernel(h, lo, c)
    out = np.full(h.size, np.nan)
    if h.size <= n:
        return out
    total = 0.0
    for i in range(1, n + 1):
        total += tr[i]
    prev = total / n
    out[n] = prev
    for i in range(n + 1, h.size):
        prev *= n - 1
        prev += tr[i]
        prev /= n
        out[i] = prev
    return out


@njit(cache=True)
def _fast_k(close: float, highest: float, lowest: float) -> float:
    diff = (highest - lowest) / 100.0
    if diff != 0.0:
        return (close - lowest) / diff
    return 0.0


@njit(cache=True)
def _stoch_kernel(
    h: FloatArray, lo: FloatArray, c: FloatArray, fastk: int, slowk: int, slowd: int
) -> tuple[FloatArray, FloatArray]:
    size = h.size
    k_out = np.full(size, np.nan)
    d_out = np.full(size, np.nan)
    first = fastk - 1 + slowk - 1 + slowd - 1
    if size <= first:
        return k_out, d_out
    fk = np.empty(size - (fastk - 1))
    for i in range(fastk - 1, size):
        hh = h[i]
        ll = lo[i]
        for j in range(i - fastk + 1, i):
            if h[j] > hh:
                hh = h[j]
            if lo[j] < ll:
                ll = lo[j]
        fk[i - (fastk - 1)] = _fast_k(c[i], hh, ll)
    sk = _sma_kernel(fk, slowk)
    sd = _sma_kernel(sk[slowk - 1:], slowd)
    for i in range(first, size):
        k_out[i] = sk[i - (fastk - 1)]
        d_out[i] = sd[i - (fastk - 1) - (slowk - 1)]
    return k_out, d_out


@njit(cache=True)
def _obv_kernel(c: FloatArray, v: FloatArray) -> FloatArray:
    out = np.empty(c.size)
    if c.size == 0:
        return out
    prev_obv = v[0]
    prev_c = c[0]
    out[0] = prev_obv
    for i in range(1, c.size):
        if c[i] > prev_c:
            prev_obv += v[i]
        elif c[i] < prev_c:
            prev_obv -= v[i]
        out[i] = prev_obv
        prev_c = c[i]
    return out


@njit(cache=True)
def _vwap_kernel(
    h: FloatArray, lo: FloatArray, c: FloatArray, v: FloatArray, window: int
) -> FloatArray:
    # window <= 0 means anchored (cumulative).
    out = np.full(h.size, np.nan)
    pv_sum = 0.0
    v_sum = 0.0
    for i in range(h.size):
        pv = (h[i] + lo[i] + c[i]) / 3.0 * v[i]
        pv_sum += pv
        v_sum += v[i]
        if window > 0 and i >= window:
            j = i - window
            pv_sum -= (h[j] + lo[j] + c[j]) / 3.0 * v[j]
            v_sum -= v[j]
        if (window <= 0 or i >= window - 1) and v_sum > 0.0:
            out[i] = pv_sum / v_sum
    return out


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
