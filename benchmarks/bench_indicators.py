"""Indicator throughput (ours vs TA-Lib vs pandas), incremental cost per candle, engine latency.

Run: ``.venv/bin/python benchmarks/bench_indicators.py [--n 1000000] [--repeat 5]``.
Figures are best-of-``repeat`` wall times measured in this run; ratios are against TA-Lib and pandas on
the same arrays.  Pandas baselines compute the same quantity with ``rolling``/``ewm`` (their EMA/RSI
seeding differs from TA-Lib's, which does not matter for speed).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import talib

from supreme.clock import ManualClock
from supreme.strategy import StrategyEngine, TradingRules
from supreme.strategy import incremental as inc
from supreme.strategy import indicators as ind


def best(fn: Callable[[], Any], repeat: int) -> float:
    """Best wall time of ``repeat`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def make_ohlcv(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    """A seeded positive random walk with consistent OHLC and volumes."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.001, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.001, n))
    volume = rng.uniform(1, 100, n)
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


def pandas_baselines(d: dict[str, np.ndarray]) -> dict[str, Callable[[], Any]]:
    """The same indicators with pandas rolling/ewm."""
    c, h, lo, v = (pd.Series(d[k]) for k in ("close", "high", "low", "volume"))

    def rsi() -> Any:
        diff = c.diff()
        gain = diff.clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean()
        loss = (-diff.clip(upper=0)).ewm(alpha=1 / 14, adjust=False).mean()
        return 100 * gain / (gain + loss)

    def macd() -> Any:
        line = c.ewm(span=12, adjust=False).mean() - c.ewm(span=26, adjust=False).mean()
        sig = line.ewm(span=9, adjust=False).mean()
        return line, sig, line - sig

    def bbands() -> Any:
        m, s = c.rolling(20).mean(), c.rolling(20).std(ddof=0)
        return m + 2 * s, m, m - 2 * s

    def atr() -> Any:
        prev = c.shift()
        tr = pd.concat([h - lo, (h - prev).abs(), (lo - prev).abs()], axis=1).max(axis=1)
        return tr.ewm(alpha=1 / 14, adjust=False).mean()

    def stoch() -> Any:
        ll, hh = lo.rolling(5).min(), h.rolling(5).max()
        k = (100 * (c - ll) / (hh - ll)).rolling(3).mean()
        return k, k.rolling(3).mean()

    def vwap() -> Any:
        pv = (h + lo + c) / 3 * v
        return pv.rolling(20).sum() / v.rolling(20).sum()

    return {
        "SMA(30)": lambda: c.rolling(30).mean(),
        "EMA(30)": lambda: c.ewm(span=30, adjust=False).mean(),
        "RSI(14)": rsi,
        "MACD(12,26,9)": macd,
        "BBANDS(20,2)": bbands,
        "ATR(14)": atr,
        "STOCH(5,3,3)": stoch,
        "OBV": lambda: (np.sign(c.diff().fillna(0)) * v).cumsum(),
        "VWAP(20)": vwap,
    }


def throughput(n: int, repeat: int) -> None:
    """Vectorised kernels vs TA-Lib vs pandas on n values."""
    d = make_ohlcv(n)
    o, h, lo, c, v = (d[k] for k in ("open", "high", "low", "close", "volume"))
    del o
    ours: dict[str, Callable[[], Any]] = {
        "SMA(30)": lambda: ind.sma(c, 30),
        "EMA(30)": lambda: ind.ema(c, 30),
        "WMA(30)": lambda: ind.wma(c, 30),
        "RSI(14)": lambda: ind.rsi(c, 14),
        "MACD(12,26,9)": lambda: ind.macd(c),
        "BBANDS(20,2)": lambda: ind.bbands(c, 20),
        "ATR(14)": lambda: ind.atr(h, lo, c, 14),
        "STOCH(5,3,3)": lambda: ind.stoch(h, lo, c),
        "OBV": lambda: ind.obv(c, v),
        "VWAP(20)": lambda: ind.vwap(h, lo, c, v, 20),
    }
    ta: dict[str, Callable[[], Any]] = {
        "SMA(30)": lambda: talib.SMA(c, 30),
        "EMA(30)": lambda: talib.EMA(c, 30),
        "WMA(30)": lambda: talib.WMA(c, 30),
        "RSI(14)": lambda: talib.RSI(c, 14),
        "MACD(12,26,9)": lambda: talib.MACD(c, 12, 26, 9),
        "BBANDS(20,2)": lambda: talib.BBANDS(c, 20, 2, 2, talib.MA_Type.SMA),
        "ATR(14)": lambda: talib.ATR(h, lo, c, 14),
        "STOCH(5,3,3)": lambda: talib.STOCH(h, lo, c, 5, 3, talib.MA_Type.SMA, 3, talib.MA_Type.SMA),
        "OBV": lambda: talib.OBV(c, v),
    }
    pdb = pandas_baselines(d)
    print(f"\nVectorised throughput on {n:,} values (million values/s, best of {repeat})")
    print(f"{'indicator':<15}{'ours':>9}{'TA-Lib':>9}{'pandas':>9}{'ours/TA-Lib':>13}{'ours/pandas':>13}")
    for name, fn in ours.items():
        t_ours = best(fn, repeat)
        t_ta = best(ta[name], repeat) if name in ta else float("nan")
        t_pd = best(pdb[name], repeat) if name in pdb else float("nan")
        mvs = [n / t / 1e6 for t in (t_ours, t_ta, t_pd)]
        rates = f"{mvs[0]:>9.1f}{mvs[1]:>9.1f}{mvs[2]:>9.1f}"
        print(f"{name:<15}{rates}{t_ta / t_ours:>12.2f}x{t_pd / t_ours:>12.2f}x")


def incremental_cost(n: int) -> None:
    """Microseconds per update of each incremental class."""
    d = make_ohlcv(n)
    closes = d["close"].tolist()
    candles = [
        inc.Candle(i, *row)
        for i, row in enumerate(zip(d["open"], d["high"], d["low"], d["close"], d["volume"], strict=True))
    ]
    cases: list[tuple[str, Callable[[], Any], list[Any]]] = [
        ("SMA(30)", lambda: inc.SMA(30), closes),
        ("EMA(30)", lambda: inc.EMA(30), closes),
        ("WMA(30)", lambda: inc.WMA(30), closes),
        ("RSI(14)", lambda: inc.RSI(14), closes),
        ("MACD(12,26,9)", lambda: inc.MACD(), closes),
        ("BBANDS(20,2)", lambda: inc.BollingerBands(20), closes),
        ("ATR(14)", lambda: inc.ATR(14), candles),
        ("STOCH(5,3,3)", lambda: inc.Stochastic(), candles),
        ("OBV", lambda: inc.OBV(), candles),
        ("VWAP(20)", lambda: inc.VWAP(20), candles),
    ]
    # baseline: recomputing the vectorised kernel over the last 200 values on every candle
    window = np.asarray(closes[:200])
    t_recompute = best(lambda: ind.ema(window, 30), 200)
    print(f"\nIncremental update cost over {n:,} candles (µs per candle)")
    head = f"vs recompute EMA over 200 ({t_recompute * 1e6:.2f} µs)"
    print(f"{'indicator':<15}{'µs/update':>11}{head:>40}")
    for name, make, inputs in cases:
        obj = make()
        update = obj.update
        t0 = time.perf_counter()
        for x in inputs:
            update(x)
        per = (time.perf_counter() - t0) / len(inputs)
        print(f"{name:<15}{per * 1e6:>11.3f}{t_recompute / per:>39.2f}x")


class _FrameSource:
    """In-memory as-of source: the last ``limit`` candles closed at the clock's now."""

    def __init__(self, frame: pd.DataFrame, clock: ManualClock) -> None:
        self.frame, self.clock = frame, clock
        self.ts = frame["timestamp"].to_numpy()

    def get_ohlcv(self, symbol: str, timeframe: str = "1m", limit: int = 100,
                  request_id: str | None = None) -> pd.DataFrame:
        cut = int(np.searchsorted(self.ts, self.clock.now() * 1000 - 60_000, side="right"))
        return self.frame.iloc[max(0, cut - limit) : cut]


def engine_latency(calls: int) -> None:
    """StrategyEngine.generate latency end to end and per stage."""
    d = make_ohlcv(20_000)
    frame = pd.DataFrame({"timestamp": np.arange(20_000, dtype=np.int64) * 60_000, **d})
    clock = ManualClock(0.0)
    source = _FrameSource(frame, clock)
    engine = StrategyEngine(source, clock)
    rules = TradingRules()
    samples, fetch, columns, compute, decide = [], [], [], [], []
    for i in range(calls):
        clock.set((1_000 + i * 7) * 60.0)
        t0 = time.perf_counter()
        engine.generate("SYN", "1m")
        t1 = time.perf_counter()
        samples.append(t1 - t0)
        window = source.get_ohlcv("SYN", "1m", 200)
        t2 = time.perf_counter()
        arrays = [window[k].to_numpy() for k in ("high", "low", "close", "volume")]
        t2b = time.perf_counter()
        values = rules.indicators(*arrays)
        t3 = time.perf_counter()
        rules.decide(values)
        t4 = time.perf_counter()
        fetch.append(t2 - t1)
        columns.append(t2b - t2)
        compute.append(t3 - t2b)
        decide.append(t4 - t3)
    ta_window = frame["close"].to_numpy()[:200]
    t_talib = best(
        lambda: (
            talib.EMA(ta_window, 12),
            talib.EMA(ta_window, 26),
            talib.MACD(ta_window),
            talib.RSI(ta_window, 14),
            talib.BBANDS(ta_window, 20),
        ),
        500,
    )
    med = statistics.median
    print(f"\nStrategyEngine.generate over 200 candles ({calls} calls, median µs)")
    print(f"  end to end (in-memory pandas source)  {med(samples) * 1e6:9.1f}")
    print(f"  of which source slice (pandas iloc)   {med(fetch) * 1e6:9.1f}")
    print(f"  (4 pandas column reads, bench only)   {med(columns) * 1e6:9.1f}")
    print(f"  indicator snapshot (9 indicators)     {med(compute) * 1e6:9.1f}")
    print(f"  rules vote + reasons                  {med(decide) * 1e6:9.1f}")
    print(f"  TA-Lib EMA x2+MACD+RSI+BBANDS baseline {t_talib * 1e6:9.1f}")


def main() -> None:
    """Run all three benchmarks and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--incremental-n", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=2_000)
    args = parser.parse_args()
    throughput(args.n, args.repeat)
    incremental_cost(args.incremental_n)
    engine_latency(args.calls)


if __name__ == "__main__":
    main()
