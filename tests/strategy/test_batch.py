"""The batch engine gives, candle for candle, the signal the per-request engine gives."""

from __future__ import annotations

import numpy as np
import pytest

from supreme.market.window import CandleArrays, CandleWindow, WindowOrderError
from supreme.strategy.batch import snapshot_windows, vote_codes
from supreme.strategy.indicator_kernels import SNAPSHOT_FIELDS
from supreme.strategy.rules import RuleConfig, TradingRules
from supreme.strategy.vote import ACTION_CODES


def _walk(n: int, seed: int) -> CandleArrays:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    high = close * (1 + rng.uniform(0, 0.003, n))
    low = close * (1 - rng.uniform(0, 0.003, n))
    vol = rng.uniform(1, 10, n)
    vol[n // 3: n // 3 + 30] = 0.0  # a zero-volume stretch: VWAP undefined there
    return CandleArrays(np.arange(n, dtype=np.int64) * 60_000, close.copy(), high, low, close, vol)


@pytest.mark.parametrize("config", [RuleConfig(), RuleConfig(history=60, threshold=0.6)])
def test_batch_equals_per_request_engine(config: RuleConfig) -> None:
    rules = TradingRules(config)
    c = _walk(1500, seed=3)
    ends = np.arange(rules.min_candles, len(c) + 1)
    snap = snapshot_windows(rules, c.high, c.low, c.close, c.volume, ends)
    action, score, conf = vote_codes(rules, snap)
    seen = set()
    for j, e in enumerate(ends):
        s = max(0, e - config.history)
        values = rules.indicators(c.high[s:e], c.low[s:e], c.close[s:e], c.volume[s:e])
        d = rules.decide(values)
        row = {k: v for k, v in zip(SNAPSHOT_FIELDS, snap[j], strict=True) if np.isfinite(v)}
        assert row == values  # bit-identical, not approximately
        assert (ACTION_CODES[action[j]], score[j], conf[j]) == (d.action.value, d.score, d.confidence)
        seen.add(d.action.value)
    assert seen == {"BUY", "SELL", "HOLD"}  # the data exercises every branch


def test_batch_rejects_ends_outside_the_data() -> None:
    rules = TradingRules()
    c = _walk(300, seed=1)
    with pytest.raises(IndexError):
        snapshot_windows(rules, c.high, c.low, c.close, c.volume, np.array([301]))


def test_window_keeps_newest_candles_contiguous_across_compactions() -> None:
    w = CandleWindow("X", "1m", keep=50, slack=7)
    c = _walk(1000, seed=2)
    for start in range(0, 1000, 13):
        w.extend(c.slice(start, min(start + 13, 1000)))
        tail = w.arrays()
        stop = min(start + 13, 1000)
        assert np.array_equal(tail.close, c.close[max(0, stop - 50):stop])
        assert tail.close.flags.c_contiguous
    assert w.appended == 1000 and len(w) == 50 and w.last_timestamp == int(c.timestamp[-1])
    assert w.frame().shape == (50, 6)


def test_window_refuses_out_of_order_blocks_and_keeps_its_data() -> None:
    w = CandleWindow("X", "1m", keep=10)
    c = _walk(20, seed=4)
    w.extend(c.slice(0, 10))
    with pytest.raises(WindowOrderError, match="strictly after"):
        w.extend(c.slice(5, 15))
    with pytest.raises(WindowOrderError):
        w.extend(CandleArrays(*(a[[12, 11]] for a in c)))
    assert w.appended == 10 and np.array_equal(w.arrays().close, c.close[:10])
