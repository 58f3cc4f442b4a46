"""Seeded access workloads for the adaptive cache: market-data patterns and classic stressors.

Each generator returns a :class:`Workload`: ``keys`` (list of str, one per request), ``times``
(float seconds, non-decreasing, starting at 0) and the parameters that made it.  The same seed gives
the same workload.  Keys follow the project's cache key style, e.g. ``"ohlcv:BTC/USDT:1m"``.

=====================  =========================================================================
generator              what it models
=====================  =========================================================================
dashboard_replay       dashboards each cycling through a watchlist x timeframes (OHLCV then an
                       indicator per panel), interleaved; users occasionally change watchlist
candle_walk            strategies walking candles forward, each step reading a look-back window;
                       repeated passes over the same period (a parameter sweep re-running a backtest)
volatility_bursts      request rate and symbol choice follow volatility (|returns| of a recorded close
                       series when given, else a seeded GARCH-like synthetic series); bursts hit the
                       volatile symbol's short timeframes, trades and order book
zipf_shifting          Zipf popularity whose ranking partly reshuffles every ``shift_every`` requests
scan_with_hot_set      a hot set interleaved with long one-off sequential scans (history downloads)
=====================  =========================================================================

:func:`trace_keys` turns any trace's object-id array (e.g. a libCacheSim trace) into keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from supreme.adaptive.synapses import AdaptiveConfigError

__all__ = [
    "DEFAULT_SYMBOLS", "DEFAULT_TIMEFRAMES", "Workload", "candle_walk", "dashboard_replay",
    "scan_with_hot_set", "trace_keys", "volatility_bursts", "zipf_shifting",
]

DEFAULT_SYMBOLS: tuple[str, ...] = tuple(
    f"{b}/USDT" for b in (
        "BTC", "ETH", "SOL", "BNB", "XRP", "ADA", "DOGE", "AVAX", "DOT", "LINK", "MATIC", "LTC", "TRX",
        "ATOM", "UNI", "ETC", "XLM", "NEAR", "APT", "ARB", "OP", "FIL", "ICP", "HBAR", "VET", "AAVE",
        "ALGO", "SAND", "MANA", "EGLD", "XTZ", "THETA", "AXS", "FTM", "RUNE", "GRT", "INJ", "SUI",
        "SEI", "TIA",
    )
)
DEFAULT_TIMEFRAMES: tuple[str, ...] = ("1m", "5m", "15m", "1h", "4h")


class Workload(NamedTuple):
    """A generated request stream."""

    name: str
    keys: list[str]
    times: np.ndarray
    params: dict[str, Any]


def _check(n: int, **positive: float) -> None:
    if n < 1:
        raise AdaptiveConfigError(f"workload length n must be >= 1, got {n}")
    for name, value in positive.items():
        if not value > 0:
            raise AdaptiveConfigError(f"workload parameter {name} must be > 0, got {value}")


def _zipf_pmf(k: int, alpha: float) -> np.ndarray:
    """Zipf(``alpha``) probabilities of ranks 1..k."""
    p = np.arange(1, k + 1, dtype=float) ** -alpha
    return p / p.sum()


def _times(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Poisson arrivals at ``rate`` requests per second, starting at 0."""
    gaps = rng.exponential(1.0 / rate, size=n)
    gaps[0] = 0.0
    return np.cumsum(gaps)


def dashboard_replay(
    n: int = 50_000,
    *,
    symbols: Sequence[str] = DEFAULT_SYMBOLS,
    timeframes: Sequence[str] = DEFAULT_TIMEFRAMES,
    dashboards: int = 4,
    watchlist: int = 12,
    indicator: str | None = "rsi",
    switch_prob: float = 0.002,
    rate: float = 50.0,
    seed: int = 0,
) -> Workload:
    """Dashboards cycling through their watchlist x timeframes, requests interleaved at random."""
    _check(n, rate=rate, dashboards=dashboards, watchlist=watchlist)
    rng = np.random.default_rng(seed)
    syms = list(symbols)
    watchlist = min(watchlist, len(syms))

    def panels() -> list[str]:
        chosen = rng.choice(len(syms), size=watchlist, replace=False)
        out = []
        for i in chosen:
            for tf in timeframes:
                out.append(f"ohlcv:{syms[i]}:{tf}")
                if indicator:
                    out.append(f"ind:{indicator}:{syms[i]}:{tf}")
        return out

    views = [panels() for _ in range(dashboards)]
    pos = [int(rng.integers(len(v))) for v in views]
    keys: list[str] = []
    who = rng.integers(dashboards, size=n)
    flips = rng.random(n) < switch_prob
    for i in range(n):
        d = int(who[i])
        if flips[i]:
            views[d], pos[d] = panels(), 0
        keys.append(views[d][pos[d]])
        pos[d] = (pos[d] + 1) % len(views[d])
    params = dict(n=n, dashboards=dashboards, watchlist=watchlist, timeframes=list(timeframes),
                  indicator=indicator, switch_prob=switch_prob, rate=rate, seed=seed)
    return Workload("dashboard_replay", keys, _times(rng, n, rate), params)


def candle_walk(
    n: int = 50_000,
    *,
    symbols: Sequence[str] = DEFAULT_SYMBOLS[:4],
    timeframe: str = "1m",
    candles: int = 600,
    lookback: int = 8,
    rate: float = 50.0,
    seed: int = 0,
) -> Workload:
    """Strategies walking candles forward (look-back reads), passes repeating over ``candles``."""
    _check(n, rate=rate, candles=candles, lookback=lookback)
    rng = np.random.default_rng(seed)
    syms = list(symbols)
    step = [int(rng.integers(candles)) for _ in syms]  # each strategy starts somewhere in its pass
    keys: list[str] = []
    while len(keys) < n:
        s = int(rng.integers(len(syms)))
        t = step[s]
        for j in range(max(0, t - lookback + 1), t + 1):
            keys.append(f"ohlcv:{syms[s]}:{timeframe}:{j}")
        step[s] = (t + 1) % candles
    keys = keys[:n]
    params = dict(n=n, symbols=len(syms), timeframe=timeframe, candles=candles, lookback=lookback,
                  rate=rate, seed=seed)
    return Workload("candle_walk", keys, _times(rng, n, rate), params)


def _synthetic_vol(rng: np.random.Generator, m: int) -> np.ndarray:
    """GARCH(1,1)-like volatility path of length ``m`` (clustered bursts)."""
    omega, alpha, beta = 0.05, 0.15, 0.8
    var = np.empty(m)
    v, r = 1.0, 0.0
    for i in range(m):
        v = omega + alpha * r * r + beta * v
        r = rng.standard_normal() * np.sqrt(v)
        var[i] = v
    return np.sqrt(var)


def volatility_bursts(
    n: int = 50_000,
    *,
    prices: Any = None,
    symbols: Sequence[str] = DEFAULT_SYMBOLS[:16],
    timeframes: Sequence[str] = DEFAULT_TIMEFRAMES,
    base_rate: float = 20.0,
    window: int = 30,
    seed: int = 0,
) -> Workload:
    """Requests whose rate and focus follow volatility; ``prices``: DataFrame with ``close`` (or array)."""
    _check(n, base_rate=base_rate, window=window)
    rng = np.random.default_rng(seed)
    syms = list(symbols)
    m = max(2000, n // 10)
    if prices is not None:
        close = np.asarray(prices["close"] if hasattr(prices, "columns") else prices, dtype=float)
        close = close[np.isfinite(close) & (close > 0)]
        if len(close) < window + 2:
            raise AdaptiveConfigError(
                f"volatility_bursts needs > {window + 1} positive closes, got {len(close)}")
        ret = np.abs(np.diff(np.log(close)))
        vol_base = np.convolve(ret, np.ones(window) / window, mode="valid")
        source = "recorded"
    else:
        vol_base = _synthetic_vol(rng, m + len(syms) * 97)
        source = "synthetic"
    vol_base = vol_base / np.median(vol_base)
    # each symbol reads the base series at its own offset: bursts differ in time between symbols
    offsets = [int(rng.integers(len(vol_base))) for _ in syms]
    vol = np.stack([np.roll(vol_base, -o)[:m] if len(vol_base) >= m else
                    np.resize(np.roll(vol_base, -o), m) for o in offsets])  # (symbols, minutes)
    keys: list[str] = []
    times: list[float] = []
    minute = 0
    while len(keys) < n:
        v = vol[:, minute % m]
        lam = base_rate * 60.0 * float(np.mean(v))
        count = int(rng.poisson(lam))
        if count:
            weights = v**2 / np.sum(v**2)
            picks = rng.choice(len(syms), size=count, p=weights)
            stamps = np.sort(rng.random(count)) * 60.0 + minute * 60.0
            for s, ts in zip(picks, stamps, strict=True):
                sym = syms[int(s)]
                hot = v[int(s)] > 1.5  # bursting symbol: short timeframes, trades, book
                if hot:
                    u = rng.random()
                    key = (f"trades:{sym}" if u < 0.25 else f"book:{sym}" if u < 0.45
                           else f"ohlcv:{sym}:{timeframes[int(rng.integers(min(2, len(timeframes))))]}")
                else:
                    key = f"ohlcv:{sym}:{timeframes[int(rng.integers(len(timeframes)))]}"
                keys.append(key)
                times.append(float(ts))
        minute += 1
    arr = np.asarray(times[:n])
    params = dict(n=n, symbols=len(syms), base_rate=base_rate, window=window, source=source, seed=seed)
    return Workload("volatility_bursts", keys[:n], arr - arr[0], params)


def zipf_shifting(
    n: int = 50_000,
    *,
    n_keys: int = 2000,
    alpha: float = 0.9,
    shift_every: int = 10_000,
    shift_fraction: float = 0.3,
    rate: float = 50.0,
    seed: int = 0,
) -> Workload:
    """Zipf(``alpha``) over ``n_keys``; every ``shift_every`` requests a fraction of ranks is reshuffled."""
    _check(n, n_keys=n_keys, alpha=alpha, shift_every=shift_every, rate=rate)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n_keys)
    draws = rng.choice(n_keys, size=n, p=_zipf_pmf(n_keys, alpha))
    keys: list[str] = []
    for i in range(n):
        if i and i % shift_every == 0:
            idx = rng.choice(n_keys, size=max(2, int(shift_fraction * n_keys)), replace=False)
            perm[idx] = perm[rng.permutation(idx)]
        keys.append(f"obj:{perm[draws[i]]}")
    params = dict(n=n, n_keys=n_keys, alpha=alpha, shift_every=shift_every, shift_fraction=shift_fraction,
                  rate=rate, seed=seed)
    return Workload("zipf_shifting", keys, _times(rng, n, rate), params)


def scan_with_hot_set(
    n: int = 50_000,
    *,
    hot: int = 200,
    scan_prob: float = 0.002,
    scan_length: int = 400,
    hot_alpha: float = 0.8,
    rate: float = 50.0,
    seed: int = 0,
) -> Workload:
    """A Zipf hot set; now and then a sequential scan of never-seen-again keys is interleaved."""
    _check(n, hot=hot, scan_length=scan_length, rate=rate)
    rng = np.random.default_rng(seed)
    hot_draws = rng.choice(hot, size=n, p=_zipf_pmf(hot, hot_alpha))
    keys: list[str] = []
    scan_pos, scan_left, scan_id = 0, 0, 0
    for i in range(n):
        if scan_left == 0 and rng.random() < scan_prob:
            scan_left, scan_pos, scan_id = scan_length, 0, scan_id + 1
        if scan_left and rng.random() < 0.5:
            keys.append(f"hist:{scan_id}:{scan_pos}")
            scan_pos += 1
            scan_left -= 1
        else:
            keys.append(f"hot:{hot_draws[i]}")
    params = dict(n=n, hot=hot, scan_prob=scan_prob, scan_length=scan_length, hot_alpha=hot_alpha,
                  rate=rate, seed=seed)
    return Workload("scan_with_hot_set", keys, _times(rng, n, rate), params)


def trace_keys(trace: Any, prefix: str = "obj:") -> list[str]:
    """Keys ``prefix + id`` for a trace (object with ``obj_id``/``obj_ids``) or an id array."""
    for attr in ("obj_id", "obj_ids", "ids"):
        if hasattr(trace, attr):
            trace = getattr(trace, attr)
            break
    ids = np.asarray(trace)
    if ids.ndim != 1:
        raise AdaptiveConfigError(f"a trace's object ids must be one-dimensional, got shape {ids.shape}")
    return [f"{prefix}{i}" for i in ids.tolist()]
