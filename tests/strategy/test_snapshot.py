"""The fused indicator snapshot and the engine's one-conversion window equal the general paths exactly."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supreme.clock import ManualClock
from supreme.strategy import InvalidMarketData, RuleConfig, StrategyEngine, TradingRules
from supreme.strategy import indicators as ind
from supreme.strategy.indicator_kernels import SNAPSHOT_FIELDS
from tests.strategy.test_incremental import ohlcv


def reference_snapshot(c: RuleConfig, h: np.ndarray, lo: np.ndarray, close: np.ndarray,
                       v: np.ndarray) -> dict[str, float]:
    """The snapshot built from the public functions' last values (the pre-fusion implementation)."""
    def last(a: np.ndarray) -> float:
        return float(a[-1]) if a.size else math.nan

    line, sig, hist = ind.macd(close, c.ema_fast, c.ema_slow, c.macd_signal)
    upper, middle, lower = ind.bbands(close, c.bb_period, c.bb_nbdev, c.bb_nbdev)
    k, d = ind.stoch(h, lo, close, c.stoch_fastk, c.stoch_slowk, c.stoch_slowd)
    last_close = last(close)
    atr = last(ind.atr(h, lo, close, c.atr_period))
    mid = last(middle)
    values = {
        "close": last_close, "ema_fast": last(ind.ema(close, c.ema_fast)),
        "ema_slow": last(ind.ema(close, c.ema_slow)), "macd": last(line), "macd_signal": last(sig),
        "macd_hist": last(hist), "rsi": last(ind.rsi(close, c.rsi_period)), "atr": atr,
        "atr_pct": atr / last_close if last_close > 0 else math.nan, "bb_upper": last(upper),
        "bb_middle": mid, "bb_lower": last(lower),
        "bb_bandwidth": (last(upper) - last(lower)) / mid if mid > 0 else math.nan,
        "stoch_k": last(k), "stoch_d": last(d), "obv": last(ind.obv(close, v)),
        "vwap": last(ind.vwap(h, lo, close, v, c.vwap_window)),
    }
    return {name: x for name, x in values.items() if math.isfinite(x)}


def test_snapshot_equals_public_functions_on_recorded_data(sp500: pd.DataFrame) -> None:
    rules = TradingRules()
    h, lo, c, v = (sp500[k].to_numpy(np.float64) for k in ("high", "low", "close", "volume"))
    for end in (200, 1000, 3000, len(c)):
        w = slice(end - 200, end)
        got = rules.indicators(h[w], lo[w], c[w], v[w])
        assert got == reference_snapshot(rules.config, h[w], lo[w], c[w], v[w])
        assert list(got) == list(SNAPSHOT_FIELDS)


@settings(max_examples=40, deadline=None)
@given(d=ohlcv(min_size=1, max_size=80), fast=st.integers(1, 8), extra=st.integers(1, 10),
       period=st.integers(1, 20))
def test_snapshot_equals_public_functions_on_random_windows(d: dict[str, np.ndarray], fast: int, extra: int,
                                                           period: int) -> None:
    config = RuleConfig(ema_fast=fast, ema_slow=fast + extra, rsi_period=period, atr_period=period,
                        bb_period=period, vwap_window=period, history=200)
    rules = TradingRules(config)
    h, lo, c, v = d["high"], d["low"], d["close"], d["volume"]
    assert rules.indicators(h, lo, c, v) == reference_snapshot(config, h, lo, c, v)


def test_snapshot_follows_a_replaced_config_and_checks_shapes() -> None:
    rules = TradingRules()
    x = 10.0 + np.sin(np.arange(60.0))
    before = rules.indicators(x, x, x, x)
    rules.config = RuleConfig(rsi_period=5)
    assert rules.indicators(x, x, x, x) == reference_snapshot(rules.config, x, x, x, x) != before
    assert rules.indicators(x[:0], x[:0], x[:0], x[:0]) == {}
    with pytest.raises(ind.IndicatorInputError, match="differ in length"):
        rules.indicators(x, x[:-1], x, x)
    with pytest.raises(ind.IndicatorInputError, match="1-D"):
        rules.indicators(np.ones((2, 30)), x, x, x)


class Source:
    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def get_ohlcv(self, symbol: str, timeframe: str = "1m", limit: int = 100,
                  request_id: str | None = None) -> pd.DataFrame:
        return self.frame


def _engine_on(frame: pd.DataFrame, at_ms: int) -> StrategyEngine:
    return StrategyEngine(Source(frame), ManualClock(at_ms / 1000.0))


def test_fast_window_equals_the_per_column_path(sp500: pd.DataFrame) -> None:
    frame = sp500.iloc[:400].reset_index(drop=True)
    at = int(frame["timestamp"].iloc[300]) + 86_400_000
    fast = _engine_on(frame, at).generate("SPX", "1d", request_id="r")
    # extra and reordered columns take the general per-column path
    general_frame = frame[["close", "volume", "timestamp", "high", "low", "open"]].assign(note="x")
    slow = _engine_on(general_frame, at).generate("SPX", "1d", request_id="r")
    assert fast.indicators == slow.indicators and fast.as_of == slow.as_of == at
    assert fast.action == slow.action and fast.reasons == slow.reasons


def test_fast_window_defers_bad_data_to_the_checked_path(sp500: pd.DataFrame) -> None:
    frame = sp500.iloc[:300].reset_index(drop=True).copy()
    at = int(frame["timestamp"].iloc[-1]) + 86_400_000
    frame.loc[250, "low"] = np.nan
    with pytest.raises(InvalidMarketData, match=f"non-finite low in the candle at {frame['timestamp'][250]}"):
        _engine_on(frame, at).generate("SPX", "1d")
    shuffled = sp500.iloc[:300].iloc[::-1].reset_index(drop=True)
    with pytest.raises(InvalidMarketData, match="not strictly increasing"):
        _engine_on(shuffled, at).generate("SPX", "1d")
