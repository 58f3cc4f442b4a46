"""Incremental (streaming) indicators: one ``update`` per candle, None during warm-up.

Each class runs the same recurrence, in the same operation order, as its vectorised kernel in
:mod:`supreme.strategy.indicators`, so feeding a series value by value reproduces the array
(the hypothesis tests check it).  Cost per update is O(1) with ring buffers, except:

* :class:`BollingerBands` re-anchors its shifted running sums every ``period`` candles (O(period)
  then, O(1) otherwise), and sums two-pass over a nearly flat window, exactly as the kernel does.
* :class:`Stochastic` keeps monotonic deques for the rolling high/low: amortised O(1).
"""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple, Protocol

from supreme.strategy.indicator_kernels import BB_CANCEL_LIMIT, _wilder_weights
from supreme.strategy.indicators import IndicatorInputError, _check_macd, _period

__all__ = [
    "ATR",
    "EMA",
    "MACD",
    "OBV",
    "RSI",
    "SMA",
    "VWAP",
    "WMA",
    "BandsValue",
    "BollingerBands",
    "Candle",
    "HasHLCV",
    "MACDValue",
    "StochValue",
    "Stochastic",
]


class HasHLCV(Protocol):
    """Anything with candle attributes high, low, close and volume."""

    @property
    def high(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def close(self) -> float: ...
    @property
    def volume(self) -> float: ...


class Candle(NamedTuple):
    """One OHLCV candle in ccxt's order (timestamp in ms UTC)."""

    timestamp: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class MACDValue(NamedTuple):
    """MACD line, signal line and histogram at one candle."""

    macd: float
    signal: float
    hist: float


class BandsValue(NamedTuple):
    """Bollinger upper, middle and lower band at one candle."""

    upper: float
    middle: float
    lower: float


class StochValue(NamedTuple):
    """Slow stochastic %K and %D at one candle."""

    k: float
    d: float


class SMA:
    """Simple moving average, running sum over a ring buffer."""

    __slots__ = ("_buf", "_count", "_pos", "_total", "period")

    def __init__(self, period: int = 30) -> None:
        self.period = _period(period)
        self._buf = [0.0] * self.period
        self._pos = 0
        self._count = 0
        self._total = 0.0

    def update(self, value: float) -> float | None:
        """Add one value; the SMA once ``period`` values have been seen."""
        x = float(value)
        self._total += x
        n = self.period
        self._buf[self._pos] = x
        self._pos = (self._pos + 1) % n
        self._count += 1
        if self._count < n:
            return None
        out = self._total / n
        # the oldest value of the window leaves after the output, as in the kernel
        self._total -= self._buf[self._pos]
        return out


class EMA:
    """Exponential moving average seeded with the SMA of the first ``period`` values."""

    __slots__ = ("_count", "_k", "_prev", "_total", "period")

    def __init__(self, period: int = 30) -> None:
        self.period = _period(period)
        self._k = 2.0 / (self.period + 1)
        self._count = 0
        self._total = 0.0
        self._prev = math.nan

    def update(self, value: float) -> float | None:
        """Add one value; the EMA from the ``period``-th value on."""
        x = float(value)
        self._count += 1
        if self._count < self.period:
            self._total += x
            return None
        if self._count == self.period:
            self._total += x
            self._prev = self._total / self.period
        else:
            self._prev = (x - self._prev) * self._k + self._prev
        return self._prev


class WMA:
    """Linearly weighted moving average with TA-Lib's running sum/subtrahend."""

    __slots__ = ("_buf", "_count", "_pos", "_sub", "_sum", "_trailing", "period")

    def __init__(self, period: int = 30) -> None:
        self.period = _period(period)
        self._buf = [0.0] * self.period
        self._pos = 0
        self._count = 0
        self._sum = 0.0
        self._sub = 0.0
        self._trailing = 0.0

    def update(self, value: float) -> float | None:
        """Add one value; the WMA once ``period`` values have been seen."""
        x = float(value)
        n = self.period
        self._count += 1
        if self._count < n:
            self._sub += x
            self._sum += x * self._count
            self._buf[self._pos] = x
            self._pos = (self._pos + 1) % n
            return None
        self._sub += x
        self._sub -= self._trailing
        self._sum += x * n
        # the oldest value in the window leaves next time
        self._buf[self._pos] = x
        self._pos = (self._pos + 1) % n
        self._trailing = self._buf[self._pos]
        out = self._sum / ((n * (n + 1)) // 2)
        self._sum -= self._sub
        return out


def _rsi_value(gain: float, loss: float) -> float:
    total = gain + loss
    return 100.0 * (gain / total) if total > 0.0 else 50.0


class RSI:
    """Relative strength index with Wilder smoothing (flat window -> 50)."""

    __slots__ = ("_count", "_gain", "_loss", "_prev_x", "_weights", "period")

    def __init__(self, period: int = 14) -> None:
        self.period = _period(period)
        self._weights = _wilder_weights(self.period)
        self._count = 0
        self._gain = 0.0
        self._loss = 0.0
        self._prev_x = math.nan

    def update(self, value: float) -> float | None:
        """Add one close; the RSI from the ``period+1``-th value on."""
        x = float(value)
        self._count += 1
        if self._count == 1:
            self._prev_x = x
            return None
        d = x - self._prev_x
        self._prev_x = x
        n = self.period
        if self._count <= n + 1:
            if d < 0:
                self._loss -= d
            else:
                self._gain += d
            if self._count < n + 1:
                return None
            self._loss /= n
            self._gain /= n
            return _rsi_value(self._gain, self._loss)
        keep, inv = self._weights
        self._gain = self._gain * keep + (d if d > 0.0 else 0.0) * inv
        self._loss = self._loss * keep + (-d if d < 0.0 else 0.0) * inv
        return _rsi_value(self._gain, self._loss)


class MACD:
    """MACD with TA-Lib's alignment: the fast EMA is seeded where the slow one is."""

    __slots__ = ("_count", "_fast", "_kf", "_ks", "_recent", "_signal", "_slow", "_total", "fast", "signal",
                 "slow")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        self.fast, self.slow, self.signal = _check_macd(fast, slow, signal)
        self._kf = 2.0 / (self.fast + 1)
        self._ks = 2.0 / (self.slow + 1)
        self._recent: deque[float] = deque(maxlen=self.fast)
        self._count = 0
        self._total = 0.0
        self._fast = math.nan
        self._slow = math.nan
        self._signal = EMA(self.signal)

    def update(self, value: float) -> MACDValue | None:
        """Add one close; (macd, signal, hist) from index ``slow-1+signal-1`` on."""
        x = float(value)
        self._count += 1
        if self._count < self.slow:
            self._total += x
            self._recent.append(x)
            return None
        if self._count == self.slow:
            self._total += x
            self._recent.append(x)
            self._slow = self._total / self.slow
            fast_total = 0.0
            for v in self._recent:  # the last `fast` values, oldest first, as the kernel sums them
                fast_total += v
            self._fast = fast_total / self.fast
            self._recent.clear()
        else:
            self._slow = (x - self._slow) * self._ks + self._slow
            self._fast = (x - self._fast) * self._kf + self._fast
        line = self._fast - self._slow
        sig = self._signal.update(line)
        if sig is None:
            return None
        return MACDValue(line, sig, line - sig)


class BollingerBands:
    """Bollinger Bands around the SMA with population std: O(1) per candle, as the kernel computes them."""

    __slots__ = ("_anchor", "_count", "_s1", "_s2", "_sma", "_window", "nbdev_dn", "nbdev_up", "period")

    def __init__(self, period: int = 20, nbdev_up: float = 2.0, nbdev_dn: float = 2.0) -> None:
        self.period = _period(period)
        if not (math.isfinite(nbdev_up) and math.isfinite(nbdev_dn)):
            raise IndicatorInputError(f"band widths must be finite, got {nbdev_up!r}, {nbdev_dn!r}")
        self.nbdev_up = float(nbdev_up)
        self.nbdev_dn = float(nbdev_dn)
        self._sma = SMA(self.period)
        # the window plus the value that left it last (the running sums subtract it)
        self._window: deque[float] = deque(maxlen=self.period + 1)
        self._count = 0
        self._anchor = 0.0
        self._s1 = 0.0
        self._s2 = 0.0

    def update(self, value: float) -> BandsValue | None:
        """Add one close; (upper, middle, lower) once ``period`` values have been seen."""
        x = float(value)
        n = self.period
        self._window.append(x)
        self._count += 1
        m = self._sma.update(x)
        if m is None:
            return None
        if (self._count - n) % n == 0:  # re-anchor and recompute the sums exactly (see the kernel)
            anchor = self._anchor = x
            s1 = s2 = 0.0
            for v in self._last_n():
                a = v - anchor
                s1 += a
                s2 += a * a
        else:
            a = x - self._anchor
            b = self._window[0] - self._anchor
            s1 = self._s1 + (a - b)
            s2 = self._s2 + (a * a - b * b)
        self._s1, self._s2 = s1, s2
        mean_sq = s2 / n
        shift = s1 / n
        var = mean_sq - shift * shift
        if var * BB_CANCEL_LIMIT < mean_sq:
            acc = 0.0
            for v in self._last_n():
                d = v - m
                acc += d * d
            var = acc / n
        sd = math.sqrt(var) if var > 0.0 else 0.0
        return BandsValue(m + sd * self.nbdev_up, m, m - sd * self.nbdev_dn)

    def _last_n(self) -> list[float]:
        window = self._window
        return list(window)[1:] if len(window) > self.period else list(window)


def _true_range(high: float, low: float, prev_close: float) -> float:
    greatest = high - low
    v2 = abs(prev_close - high)
    if v2 > greatest:
        greatest = v2
    v3 = abs(low - prev_close)
    if v3 > greatest:
        greatest = v3
    return greatest


class ATR:
    """Average true range with Wilder smoothing; defined from the ``period+1``-th candle."""

    __slots__ = ("_count", "_prev", "_prev_close", "_total", "_weights", "period")

    def __init__(self, period: int = 14) -> None:
        self.period = _period(period)
        self._weights = _wilder_weights(self.period)
        self._count = 0
        self._total = 0.0
        self._prev = math.nan
        self._prev_close = math.nan

    def update(self, candle: HasHLCV) -> float | None:
        """Add one candle; the ATR or None during warm-up."""
        h, lo, c = float(candle.high), float(candle.low), float(candle.close)
        self._count += 1
        prev_close, self._prev_close = self._prev_close, c
        if self._count == 1:
            return None
        tr = _true_range(h, lo, prev_close)
        n = self.period
        if self._count <= n + 1:
            self._total += tr
            if self._count < n + 1:
                return None
            self._prev = self._total / n
            return self._prev
        keep, inv = self._weights
        self._prev = self._prev * keep + tr * inv
        return self._prev


class Stochastic:
    """Slow stochastic (%K = SMA of fast %K, %D = SMA of %K) as TA-Lib STOCH with SMA smoothing."""

    __slots__ = ("_count", "_d", "_highs", "_k", "_lows", "fastk", "slowd", "slowk")

    def __init__(self, fastk: int = 5, slowk: int = 3, slowd: int = 3) -> None:
        self.fastk = _period(fastk, "fastk")
        self.slowk = _period(slowk, "slowk")
        self.slowd = _period(slowd, "slowd")
        # monotonic deques of (index, value): front is the window's extreme
        self._highs: deque[tuple[int, float]] = deque()
        self._lows: deque[tuple[int, float]] = deque()
        self._k = SMA(self.slowk)
        self._d = SMA(self.slowd)
        self._count = 0

    def update(self, candle: HasHLCV) -> StochValue | None:
        """Add one candle; (%K, %D) from index ``fastk-1+slowk-1+slowd-1`` on."""
        h, lo, c = float(candle.high), float(candle.low), float(candle.close)
        i = self._count
        self._count += 1
        while self._highs and self._highs[-1][1] <= h:
            self._highs.pop()
        self._highs.append((i, h))
        while self._lows and self._lows[-1][1] >= lo:
            self._lows.pop()
        self._lows.append((i, lo))
        start = i - self.fastk + 1
        while self._highs[0][0] < start:
            self._highs.popleft()
        while self._lows[0][0] < start:
            self._lows.popleft()
        if start < 0:
            return None
        highest, lowest = self._highs[0][1], self._lows[0][1]
        diff = (highest - lowest) / 100.0
        fast_k = (c - lowest) / diff if diff != 0.0 else 0.0
        k = self._k.update(fast_k)
        if k is None:
            return None
        d = self._d.update(k)
        if d is None:
            return None
        return StochValue(k, d)


class OBV:
    """On-balance volume; defined from the first candle."""

    __slots__ = ("_obv", "_prev_close")

    def __init__(self) -> None:
        self._obv = math.nan
        self._prev_close = math.nan

    def update(self, candle: HasHLCV) -> float:
        """Add one candle; the running OBV."""
        c, v = float(candle.close), float(candle.volume)
        if math.isnan(self._prev_close):
            self._obv = v
        elif c > self._prev_close:
            self._obv += v
        elif c < self._prev_close:
            self._obv -= v
        self._prev_close = c
        return self._obv


class VWAP:
    """VWAP of the typical price: anchored (``window=None``) or rolling over ``window`` candles."""

    __slots__ = ("_buf", "_count", "_pv", "_v", "window")

    def __init__(self, window: int | None = None) -> None:
        self.window = None if window is None else _period(window, "window")
        self._buf: deque[tuple[float, float]] = deque()
        self._count = 0
        self._pv = 0.0
        self._v = 0.0

    def update(self, candle: HasHLCV) -> float | None:
        """Add one candle; the VWAP, or None in warm-up or while the summed volume is 0."""
        h, lo, c, v = float(candle.high), float(candle.low), float(candle.close), float(candle.volume)
        pv = (h + lo + c) / 3.0 * v
        self._pv += pv
        self._v += v
        self._count += 1
        if self.window is not None:
            self._buf.append((pv, v))
            if len(self._buf) > self.window:
                old_pv, old_v = self._buf.popleft()
                self._pv -= old_pv
                self._v -= old_v
            if self._count < self.window:
                return None
        if self._v > 0.0:
            return self._pv / self._v
        return None
