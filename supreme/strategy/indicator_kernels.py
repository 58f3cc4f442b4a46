"""The compiled loops behind :mod:`supreme.strategy.indicators` (TA-Lib's recurrences; see there).

Each kernel makes one pass, writes each output once and allocates only its outputs.
:func:`_snapshot_kernel` gives the latest value of every indicator the trading rules read in one
compiled call; the per-request engine and the batch engine both call it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

__all__ = ["BB_CANCEL_LIMIT", "SNAPSHOT_FIELDS"]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


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
