"""The live window path (WindowEngine over MarketDataFeed.advance) gives StrategyEngine's signals."""

from __future__ import annotations

import random

import pytest

from supreme.clock import ManualClock
from supreme.market.feed import MarketDataFeed
from supreme.market.replay import ReplayConnector
from supreme.market.sample import load_sample
from supreme.strategy.engine import InsufficientData, StrategyEngine
from supreme.strategy.window_engine import WindowEngine

DAY = 86_400.0


def test_signals_equal_the_frame_engine_over_the_whole_sample() -> None:
    frame = load_sample("SPX")
    start = int(frame["timestamp"].iloc[0]) / 1000.0
    clock = ManualClock(start)
    frame_engine = StrategyEngine(MarketDataFeed(ReplayConnector({"SPX": frame}, clock, "1d"), clock), clock)
    window_engine = WindowEngine.like(frame_engine,
                                      MarketDataFeed(ReplayConnector({"SPX": frame}, clock, "1d"), clock))
    rng = random.Random(17)
    end = int(frame["timestamp"].iloc[-1]) / 1000.0 + DAY
    compared = refused = 0
    while clock.now() <= end:
        try:
            expected = frame_engine.generate("SPX", "1d").to_dict()
        except InsufficientData:
            with pytest.raises(InsufficientData):
                window_engine.generate("SPX", "1d")
            refused += 1
        else:
            assert window_engine.generate("SPX", "1d").to_dict() == expected, clock.now()
            compared += 1
        # mostly one candle at a time, sometimes several (the window appends a block), sometimes none
        clock.advance(rng.choice([DAY, DAY, DAY, 0.25 * DAY, 3 * DAY, 10 * DAY]))
    assert compared > 1000 and refused > 0
