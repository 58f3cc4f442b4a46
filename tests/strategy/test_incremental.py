"""Incremental indicators reproduce the vectorised arrays candle by candle (hypothesis)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supreme.strategy import incremental as inc
from supreme.strategy import indicators as ind


@st.composite
def ohlcv(draw: st.DrawFn, min_size: int = 1, max_size: int = 120) -> dict[str, np.ndarray]:
    """A positive random walk with high >= max(open, close), low <= min(open, close), volume >= 0."""
    n = draw(st.integers(min_size, max_size))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([1e-5, 1.0, 100.0, 5e4]))
    rng = np.random.default_rng(seed)
    close = scale * np.exp(np.cumsum(rng.normal(0.0, 0.02, n)))
    # some flat stretches: repeated closes exercise zero gains/losses and zero ranges
    if draw(st.booleans()):
        close = np.round(close / (scale * 0.01)) * (scale * 0.01) + scale * 0.01
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    volume = rng.uniform(0, 1000, n) * rng.integers(0, 2, n)  # zero volumes too
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


def feed(obj: Any, inputs: list[Any], pick: Callable[[Any], float] = float) -> np.ndarray:
    out = []
    for x in inputs:
        r = obj.update(x)
        out.append(np.nan if r is None else pick(r))
    return np.array(out, dtype=np.float64)


def same(a: np.ndarray, b: np.ndarray, what: str) -> None:
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"{what}: warm-up differs")
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, equal_nan=True, err_msg=what)


def candles(d: dict[str, np.ndarray]) -> list[inc.Candle]:
    return [inc.Candle(i, *row) for i, row in enumerate(zip(d["open"], d["high"], d["low"], d["close"],
                                                            d["volume"], strict=True))]


PERIOD = st.integers(1, 30)


@settings(max_examples=60, deadline=None)
@given(d=ohlcv(), n=PERIOD)
def test_single_series_indicators(d: dict[str, np.ndarray], n: int) -> None:
    c = d["close"]
    same(feed(inc.SMA(n), list(c)), ind.sma(c, n), f"SMA({n})")
    same(feed(inc.EMA(n), list(c)), ind.ema(c, n), f"EMA({n})")
    same(feed(inc.WMA(n), list(c)), ind.wma(c, n), f"WMA({n})")
    same(feed(inc.RSI(n), list(c)), ind.rsi(c, n), f"RSI({n})")
    bands = ind.bbands(c, n, 2.0, 1.5)
    for j, name in enumerate(("upper", "middle", "lower")):
        same(feed(inc.BollingerBands(n, 2.0, 1.5), list(c), lambda r, j=j: r[j]),  # type: ignore[misc]
             bands[j], f"BB {name}")


@settings(max_examples=60, deadline=None)
@given(d=ohlcv(), fast=st.integers(1, 15), extra=st.integers(1, 20), signal=st.integers(1, 12))
def test_macd(d: dict[str, np.ndarray], fast: int, extra: int, signal: int) -> None:
    c = d["close"]
    ref = ind.macd(c, fast, fast + extra, signal)
    for j, name in enumerate(("line", "signal", "hist")):
        same(feed(inc.MACD(fast, fast + extra, signal), list(c), lambda r, j=j: r[j]),  # type: ignore[misc]
             ref[j], f"MACD {name}")


@settings(max_examples=60, deadline=None)
@given(d=ohlcv(), n=PERIOD, fastk=st.integers(1, 14), slowk=st.integers(1, 5), slowd=st.integers(1, 5))
def test_candle_indicators(d: dict[str, np.ndarray], n: int, fastk: int, slowk: int, slowd: int) -> None:
    h, lo, c, v = d["high"], d["low"], d["close"], d["volume"]
    cs = candles(d)
    same(feed(inc.ATR(n), cs), ind.atr(h, lo, c, n), f"ATR({n})")
    k, dd = ind.stoch(h, lo, c, fastk, slowk, slowd)
    same(feed(inc.Stochastic(fastk, slowk, slowd), cs, lambda r: r.k), k, "STOCH %K")
    same(feed(inc.Stochastic(fastk, slowk, slowd), cs, lambda r: r.d), dd, "STOCH %D")
    same(feed(inc.OBV(), cs), ind.obv(c, v), "OBV")
    same(feed(inc.VWAP(), cs), ind.vwap(h, lo, c, v), "VWAP anchored")
    same(feed(inc.VWAP(n), cs), ind.vwap(h, lo, c, v, n), f"VWAP({n})")


def test_incremental_matches_on_recorded_data(sp500: pd.DataFrame) -> None:
    d = {col: sp500[col].to_numpy(np.float64) for col in ("open", "high", "low", "close", "volume")}
    ref = ind.macd(d["close"])
    same(feed(inc.MACD(), list(d["close"]), lambda r: r.hist), ref[2], "MACD hist on S&P 500")
    same(feed(inc.ATR(14), candles(d)), ind.atr(d["high"], d["low"], d["close"], 14), "ATR on S&P 500")


def test_incremental_accepts_any_object_with_candle_attributes() -> None:
    frame = pd.DataFrame({"high": [2.0, 3.0, 4.0], "low": [1.0, 1.5, 2.0], "close": [1.5, 2.5, 3.5],
                          "volume": [10.0, 20.0, 30.0]})
    atr = inc.ATR(2)
    outs = [atr.update(row) for row in frame.itertuples()]  # type: ignore[arg-type]
    assert outs[:2] == [None, None] and outs[2] == pytest.approx((1.5 + 2.0) / 2)


def test_incremental_rejects_bad_parameters() -> None:
    with pytest.raises(ind.IndicatorInputError):
        inc.EMA(0)
    with pytest.raises(ind.IndicatorInputError):
        inc.MACD(26, 12, 9)
    with pytest.raises(ind.IndicatorInputError):
        inc.BollingerBands(20, float("inf"))
