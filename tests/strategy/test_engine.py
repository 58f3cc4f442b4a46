"""StrategyEngine: signals from an as-of source, no look-ahead, event log steps, clear errors."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from supreme.clock import ManualClock
from supreme.events import EventLog
from supreme.strategy import (
    InsufficientData,
    InvalidMarketData,
    RuleConfig,
    Signal,
    StrategyEngine,
    timeframe_ms,
)
from supreme.strategy import indicators as ind
from tests.strategy.conftest import FrameSource, UnknownSymbol

DAY = 86_400_000


def clock_after(frame: pd.DataFrame, row: int, extra_ms: int = 0, tf_ms: int = DAY) -> ManualClock:
    """A clock just when candle ``row`` has closed (plus ``extra_ms``)."""
    return ManualClock((int(frame["timestamp"].iloc[row]) + tf_ms + extra_ms) / 1000.0)


def test_signal_as_of_last_closed_candle(sp500: pd.DataFrame, event_log: EventLog) -> None:
    clock = clock_after(sp500, 1000, extra_ms=3_600_000)  # an hour into the next day
    source = FrameSource({"SPX": sp500}, clock)
    engine = StrategyEngine(source, clock, event_log=event_log)
    sig = engine.generate("SPX", "1d", request_id="r-test")
    assert isinstance(sig, Signal) and sig.symbol == "SPX" and sig.timeframe == "1d"
    assert sig.as_of == int(sp500["timestamp"].iloc[1000]) + DAY <= clock.now() * 1000
    assert sig.indicators["close"] == sp500["close"].iloc[1000]
    assert 0.0 <= sig.confidence <= 1.0 and sig.reasons
    assert source.calls == [("SPX", "1d", RuleConfig().history + 1)]
    # the snapshot equals the vectorised indicators over the same 200 closed candles
    window = sp500["close"].to_numpy()[801:1001]
    assert sig.indicators["rsi"] == ind.rsi(window, 14)[-1]
    assert sig.indicators["macd_hist"] == ind.macd(window)[2][-1]


def test_event_log_records_the_seed_steps(sp500: pd.DataFrame, event_log: EventLog) -> None:
    clock = clock_after(sp500, 500)
    StrategyEngine(FrameSource({"SPX": sp500}, clock), clock, event_log=event_log).generate(
        "SPX", "1d", request_id="r42")
    frame = event_log.to_frame()
    assert list(frame["operation"]) == ["request_market_data", "process_indicators", "apply_trading_logic"]
    assert set(frame["flow"]) == {"trading_signal"} and set(frame["component"]) == {"Strategy_Engine"}
    assert set(frame["request_id"]) == {"r42"} and set(frame["key"]) == {"SPX"}
    assert (frame["outcome"] == "ok").all() and (frame["latency"] >= 0).all()


class SteppingClock(ManualClock):
    """Advances 1 ms on every read, so the engine's step latencies become visible."""

    def now(self) -> float:
        self.advance(0.001)
        return super().now()


def test_latencies_are_measured_on_the_clock(sp500: pd.DataFrame, event_log: EventLog) -> None:
    clock = SteppingClock((int(sp500["timestamp"].iloc[400]) + DAY) / 1000.0)
    StrategyEngine(FrameSource({"SPX": sp500}, clock), clock, event_log=event_log).generate("SPX", "1d")
    lat = event_log.to_frame()["latency"].to_numpy()
    # the source reads the clock once more inside the market-data step
    np.testing.assert_allclose(lat, [0.002, 0.001, 0.001], rtol=1e-3)  # epoch-second floats: ~1e-7 s ulp


@pytest.mark.parametrize("row", [300, 1234, 4000])
def test_no_look_ahead(sp500: pd.DataFrame, row: int) -> None:
    """Candles after now (future, or still forming) never change the signal."""
    clock = clock_after(sp500, row, extra_ms=DAY // 2)  # half-way through candle row+1
    cut_at = int(sp500["timestamp"].iloc[row]) + 1
    past_only = sp500[sp500["timestamp"] < cut_at]
    honest = StrategyEngine(FrameSource({"SPX": past_only}, clock), clock).generate("SPX", "1d")
    with_future = StrategyEngine(FrameSource({"SPX": sp500}, clock), clock).generate("SPX", "1d")
    leaky = StrategyEngine(FrameSource({"SPX": sp500}, clock, leaky=True), clock).generate("SPX", "1d")
    assert honest == with_future == leaky
    # rewriting every candle after now (a different future) changes nothing either
    other_future = sp500.copy()
    later = other_future["timestamp"] >= cut_at
    other_future.loc[later, ["open", "high", "low", "close"]] *= 3.0
    assert StrategyEngine(FrameSource({"SPX": other_future}, clock, leaky=True), clock).generate(
        "SPX", "1d") == honest
    # until the next candle closes, later reads give the same signal
    clock.advance(DAY / 2 / 1000 - 0.001)
    leaky_later = StrategyEngine(FrameSource({"SPX": sp500}, clock, leaky=True), clock)
    assert leaky_later.generate("SPX", "1d") == honest


def test_too_few_candles_raises_insufficient_data(sp500: pd.DataFrame, event_log: EventLog) -> None:
    clock = clock_after(sp500, 10)
    engine = StrategyEngine(FrameSource({"SPX": sp500}, clock), clock, event_log=event_log)
    with pytest.raises(InsufficientData, match=r"SPX 1d: 11 closed candles .* at least 34"):
        engine.generate("SPX", "1d")
    assert "error" in set(event_log.to_frame()["outcome"])


def test_minimum_history_is_enough(sp500: pd.DataFrame) -> None:
    clock = clock_after(sp500, RuleConfig().min_candles - 1)
    sig = StrategyEngine(FrameSource({"SPX": sp500}, clock), clock).generate("SPX", "1d")
    assert "macd_hist" in sig.indicators


def test_unknown_symbol_propagates_the_source_error(sp500: pd.DataFrame, event_log: EventLog) -> None:
    clock = clock_after(sp500, 500)
    engine = StrategyEngine(FrameSource({"SPX": sp500}, clock), clock, event_log=event_log)
    with pytest.raises(UnknownSymbol, match="NOPE"):
        engine.generate("NOPE", "1d")
    row = event_log.to_frame().iloc[-1]
    assert row["operation"] == "request_market_data" and row["outcome"] == "error"


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda f: f.drop(columns=["volume"]), "volume"),
        (lambda f: f.assign(close=f["close"].where(f.index != len(f) - 5, np.nan)), "non-finite close"),
        (lambda f: f.iloc[::-1].reset_index(drop=True), "strictly increasing"),
    ],
)
def test_broken_market_data_is_a_clear_error(
    sp500: pd.DataFrame, damage: Callable[[pd.DataFrame], pd.DataFrame], match: str
) -> None:
    clock = clock_after(sp500, 600)

    class Broken(FrameSource):
        def get_ohlcv(self, symbol: str, timeframe: str = "1m", limit: int = 100,
                      request_id: str | None = None) -> pd.DataFrame:
            return damage(super().get_ohlcv(symbol, timeframe, limit))

    with pytest.raises(InvalidMarketData, match=match):
        StrategyEngine(Broken({"SPX": sp500}, clock), clock).generate("SPX", "1d")


def test_timeframes() -> None:
    assert timeframe_ms("1m") == 60_000 and timeframe_ms("4h") == 4 * 3_600_000 and timeframe_ms("1d") == DAY
    for bad in ("", "1x", "0m", "m1", "1.5m"):
        with pytest.raises(ValueError, match="timeframe"):
            timeframe_ms(bad)


def test_btc_minute_signals_across_the_recording(btc: pd.DataFrame) -> None:
    """On real 1-minute BTC data every signal is well-formed and its snapshot matches TA-Lib."""
    talib = pytest.importorskip("talib")
    tf = timeframe_ms("1m")
    clock = clock_after(btc, 250, tf_ms=tf)
    engine = StrategyEngine(FrameSource({"BTC-PERP": btc}, clock), clock)
    actions = set()
    for row in range(250, len(btc), 1500):
        clock.set((int(btc["timestamp"].iloc[row]) + tf) / 1000.0)
        sig = engine.generate("BTC-PERP", "1m")
        assert sig.as_of == int(btc["timestamp"].iloc[row]) + tf
        window = btc.iloc[row - 199: row + 1]
        c = window["close"].to_numpy()
        assert sig.indicators["rsi"] == pytest.approx(talib.RSI(c, 14)[-1], rel=1e-9)
        ref_hist = talib.MACD(c, 12, 26, 9)[2][-1]
        assert sig.indicators["macd_hist"] == pytest.approx(ref_hist, rel=1e-9, abs=1e-9)
        actions.add(sig.action)
    assert len(actions) >= 2  # the rules actually discriminate on real data


def test_warm_up_touches_no_source_and_leaves_signals_unchanged(sp500: pd.DataFrame) -> None:
    clock = ManualClock(float(sp500["timestamp"].iloc[-1]) / 1000 + 86_400)
    engine = StrategyEngine(FrameSource({"SPX": sp500}, clock), clock)
    before = engine.generate("SPX", "1d", request_id="a")
    engine.warm_up()
    assert engine.generate("SPX", "1d", request_id="b") == before
