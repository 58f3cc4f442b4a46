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
def _wilder_weights(n: int) -> tuple[float, float]:
    """Wilder smoothing ``avg = (avg*(n-1) + x)/n`` as ``avg*keep + x*inv``: the weights (keep, inv).

    The multiply-add form takes the division off the loop-carried dependency chain (a division
    costs ~4x a multiply); it differs from TA-Lib's order by a few ulp, ~1e-15 relative.  The
    incremental classes use the same weights, so streaming and vectorised values agree exactly.
    """
    return (n - 1) / n, 1.0 / n


@njit(cache=True)
def _rsi_value(gain: float, loss: float) -> float:
    total = gain + loss
    if total > 0.0:
        return 100.0 * (gain / total)
    return 50.0


@njit(cache=True)
def _rsi_kernel(x: FloatArray, n: int) -> FloatArray:
    out = np.empty(x.size)
    if x.size <= n:
        out[:] = np.nan
        return out
    out[:n] = np.nan  # only the warm-up: filling everything first would write each value twice
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
    keep, inv = _wilder_weights(n)
    for i in range(n + 1, x.size):
        d = x[i] - x[i - 1]
        up = d if d > 0.0 else 0.0
        down = -d if d < 0.0 else 0.0
        gain = gain * keep + up * inv
        loss = loss * keep + down * inv
        out[i] = _rsi_value(gain, loss)
    return out


@njit(cache=True)
def _macd_kernel(x: FloatArray, fast: int, slow: int, signal: int) -> tuple[FloatArray, ...]:
    # No temporaries; the two price EMAs side by side, so their dependency chains overlap.
    # Same operations in the same order as TA-Lib (and _ema_fill): SMA seeds summed from 0.0, then
    # ``prev = (x - prev) * k + prev``.
    size = x.size
    line = np.empty(size)
    sig = np.empty(size)
    hist = np.empty(size)
    first = slow - 1 + signal - 1
    if size <= first:
        line[:] = np.nan
        sig[:] = np.nan
        hist[:] = np.nan
        return line, sig, hist
    line[:first] = np.nan
    sig[:first] = np.nan
    hist[:first] = np.nan
    kf = 2.0 / (fast + 1)
    ks = 2.0 / (slow + 1)
    kg = 2.0 / (signal + 1)
    total = 0.0
    for i in range(slow):
        total += x[i]
    slow_ema = total / slow
    total = 0.0
    for i in range(slow - fast, slow):  # the fast EMA starts where the slow one does (TA-Lib)
        total += x[i]
    fast_ema = total / fast
    raw = fast_ema - slow_ema
    sig_total = 0.0
    sig_total += raw
    for i in range(slow, first + 1):  # the signal's seed: SMA of the first `signal` MACD values
        slow_ema = (x[i] - slow_ema) * ks + slow_ema
        fast_ema = (x[i] - fast_ema) * kf + fast_ema
        raw = fast_ema - slow_ema
        sig_total += raw
    s = sig_total / signal
    line[first] = raw
    sig[first] = s
    hist[first] = raw - s
    # Two loops, not one: with the signal EMA in the same loop as the two price EMAs, LLVM's code
    # runs ~4x slower (measured: 55 vs 400 M values/s for each loop alone).  The second loop reads
    # the line back from the output, so there is still no temporary array.
    for i in range(first + 1, size):
        slow_ema = (x[i] - slow_ema) * ks + slow_ema
        fast_ema = (x[i] - fast_ema) * kf + fast_ema
        line[i] = fast_ema - slow_ema
    for i in range(first + 1, size):
        raw = line[i]
        s = (raw - s) * kg + s
        sig[i] = s
        hist[i] = raw - s
    return line, sig, hist


@njit(cache=True, fastmath={"reassoc", "nsz"})
def _sum_sq_dev(x: FloatArray, lo: int, hi: int, m: float) -> float:
    # Sum of squared deviations of x[lo:hi] from m.  Reassociation lets LLVM vectorise the
    # reduction (several partial sums).  Reordering a sum of non-negative terms changes it by
    # ~n ulp *of the sum itself*: no cancellation, unlike a running E[x^2] - E[x]^2, whatever the
    # price level.  The flags stay on this function, so callers' running sums keep TA-Lib's order.
    acc = 0.0
    for j in range(lo, hi):
        d = x[j] - m
        acc += d * d
    return acc


#: BBANDS falls back to the exact two-pass variance when the shifted running sums cancel by more
#: than this factor (mean square / variance): below it, the sums are good to ~1e-10 relative.
BB_CANCEL_LIMIT = 1e3


@njit(cache=True)
def _bbands_kernel(x: FloatArray, n: int, up: float, dn: float) -> tuple[FloatArray, ...]:
    size = x.size
    upper = np.empty(size)
    mid = np.empty(size)
    lower = np.empty(size)
    if size < n:
        upper[:] = np.nan
        mid[:] = np.nan
        lower[:] = np.nan
        return upper, mid, lower
    upper[:n - 1] = np.nan
    mid[:n - 1] = np.nan
    lower[:n - 1] = np.nan
    # Middle: TA-Lib's running-sum SMA (as _sma_kernel), fused into the same pass.
    # Variance, O(1) per value: running sums of (x - K), (x - K)^2 with an anchor K re-chosen (and
    # the sums recomputed exactly) every n values, K = the newest value then.  Shifting by a nearby
    # K removes the cancellation that makes the classic running E[x^2] - E[x]^2 lose ~1e-6 relative
    # on real prices; re-anchoring bounds the drift of the running updates to < 2n steps.  Where
    # the sums still cancel badly (a nearly flat window: mean square > BB_CANCEL_LIMIT * variance)
    # the variance is recomputed two-pass around the SMA, which is exact to a few ulp.
    total = 0.0
    for i in range(n - 1):
        total += x[i]
    anchor = 0.0
    s1 = 0.0
    s2 = 0.0
    for i in range(n - 1, size):
        total += x[i]
        m = total / n
        total -= x[i - n + 1]
        if (i - n + 1) % n == 0:
            anchor = x[i]
            s1 = 0.0
            s2 = 0.0
            for t in range(i - n + 1, i + 1):
                a = x[t] - anchor
                s1 += a
                s2 += a * a
        else:
            a = x[i] - anchor
            b = x[i - n] - anchor
            s1 += a - b
            s2 += a * a - b * b
        mean_sq = s2 / n
        shift = s1 / n
        var = mean_sq - shift * shift
        if var * BB_CANCEL_LIMIT < mean_sq:
            var = _sum_sq_dev(x, i - n + 1, i + 1, m) / n
        sd = np.sqrt(var) if var > 0.0 else 0.0
        mid[i] = m
        upper[i] = m + sd * up
        lower[i] = m - sd * dn
    return upper, mid, lower


@njit(cache=True)
def _true_range_at(h: FloatArray, lo: FloatArray, c: FloatArray, i: int) -> float:
    prev = c[i - 1]
    greatest = h[i] - lo[i]
    v2 = abs(prev - h[i])
    if v2 > greatest:
        greatest = v2
    v3 = abs(lo[i] - prev)
    if v3 > greatest:
        greatest = v3
    return greatest


@njit(cache=True)
def _true_range_kernel(h: FloatArray, lo: FloatArray, c: FloatArray) -> FloatArray:
    out = np.empty(h.size)
    if h.size:
        out[0] = np.nan
    for i in range(1, h.size):
        out[i] = _true_range_at(h, lo, c, i)
    return out


@njit(cache=True)
def _atr_kernel(h: FloatArray, lo: FloatArray, c: FloatArray, n: int) -> FloatArray:
    # one pass: the true range is computed where it is used (no TR array, no NaN pre-fill)
    size = h.size
    out = np.empty(size)
    if size <= n:
        out[:] = np.nan
        return out
    out[:n] = np.nan
    total = 0.0
    for i in range(1, n + 1):
        total += _true_range_at(h, lo, c, i)
    prev = total / n
    out[n] = prev
    keep, inv = _wilder_weights(n)
    for i in range(n + 1, size):
        prev = prev * keep + _true_range_at(h, lo, c, i) * inv
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


#: Names of the values :func:`_snapshot_kernel` returns, in order.
SNAPSHOT_FIELDS: tuple[str, ...] = (
    "close", "ema_fast", "ema_slow", "macd", "macd_signal", "macd_hist", "rsi", "atr", "atr_pct",
    "bb_upper", "bb_middle", "bb_lower", "bb_bandwidth", "stoch_k", "stoch_d", "obv", "vwap",
)


@njit(cache=True)
def _snapshot_kernel(
    h: FloatArray, lo: FloatArray, c: FloatArray, v: FloatArray, p: Any, nbdev: float
) -> FloatArray:
    # The latest value of every indicator the trading rules read, in one compiled call: the
    # engine's per-signal cost was ~10 wrapper calls (argument checks, dispatch) for ~200 values
    # each.  It runs the very kernels of the public functions, so each value is bit-identical to
    # the last element of the corresponding vectorised array.  ``p`` holds the periods: ema_fast,
    # ema_slow, macd_signal, rsi, atr, bb, stoch fastk/slowk/slowd, vwap window.
    out = np.full(len(SNAPSHOT_FIELDS), np.nan)
    if c.size == 0:
        return out
    last_close = c[-1]
    line, sig, hist = _macd_kernel(c, p[0], p[1], p[2])
    upper, middle, lower = _bbands_kernel(c, p[5], nbdev, nbdev)
    k, d = _stoch_kernel(h, lo, c, p[6], p[7], p[8])
    atr = _atr_kernel(h, lo, c, p[4])[-1]
    mid = middle[-1]
    out[0] = last_close
    out[1] = _ema_kernel(c, p[0])[-1]
    out[2] = _ema_kernel(c, p[1])[-1]
    out[3] = line[-1]
    out[4] = sig[-1]
    out[5] = hist[-1]
    out[6] = _rsi_kernel(c, p[3])[-1]
    out[7] = atr
    out[8] = atr / last_close if last_close > 0 else np.nan
    out[9] = upper[-1]
    out[10] = mid
    out[11] = lower[-1]
    out[12] = (upper[-1] - lower[-1]) / mid if mid > 0 else np.nan
    out[13] = k[-1]
    out[14] = d[-1]
    out[15] = _obv_kernel(c, v)[-1]
    out[16] = _vwap_kernel(h, lo, c, v, p[9])[-1]
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
