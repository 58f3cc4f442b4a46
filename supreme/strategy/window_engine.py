"""The live signal path on the feed's candle windows, the objects the replay pipeline uses.

:class:`WindowEngine` has :meth:`StrategyEngine.generate`'s signature and answer, but reads market data
the stream way: :meth:`MarketDataFeed.advance` appends the candles closed since the last request to the
feed's per-(symbol, timeframe) :class:`~supreme.market.window.CandleWindow` (numpy ring buffer; no
DataFrame per request), then the same rules compute the indicators and the vote over the newest
``history`` closed candles -- exactly the candles ``generate`` takes from ``get_ohlcv``, so the signals
are equal (``tests/strategy/test_window_engine.py`` compares them over a whole recording).

Threads: requests run in a thread pool and a window's views go stale when it compacts, so each
stream has a lock held from the advance to the end of the indicator pass.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from supreme.clock import Clock
from supreme.events import NULL_LOG, EventLog, new_request_id
from supreme.market.timeframes import timeframe_ms
from supreme.strategy.engine import COMPONENT, FLOW, InsufficientData, StrategyEngine
from supreme.strategy.rules import TradingRules
from supreme.strategy.signal import Signal

__all__ = ["WindowEngine"]


class WindowEngine:
    """Strategy_Engine over the feed's candle windows (see the module docstring)."""

    def __init__(self, feed: Any, clock: Clock, rules: TradingRules, event_log: EventLog = NULL_LOG) -> None:
        self.feed = feed
        self.source = feed
        self.clock = clock
        self.rules = rules
        self.event_log = event_log
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    @classmethod
    def like(cls, engine: StrategyEngine, feed: Any) -> WindowEngine:
        """The window path with ``engine``'s clock, rules and event log."""
        return cls(feed, engine.clock, engine.rules, engine.event_log)

    def warm_up(self) -> None:
        """Load the compiled kernels (as :meth:`StrategyEngine.warm_up`)."""
        StrategyEngine(self.feed, self.clock, self.rules).warm_up()

    def _lock(self, symbol: str, timeframe: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault((symbol, timeframe), threading.Lock())

    def generate(self, symbol: str, timeframe: str = "1m", request_id: str | None = None) -> Signal:
        """The signal for ``symbol`` on ``timeframe`` as of the clock's now."""
        rid = request_id if request_id is not None else new_request_id()
        log, clock, rules = self.event_log, self.clock, self.rules
        history, tf_ms = rules.config.history, timeframe_ms(timeframe)
        t0 = clock.now()
        with self._lock(symbol, timeframe):
            try:
                self.feed.advance(symbol, timeframe, history, request_id=rid)
            except Exception as exc:
                t1 = clock.now()
                log.record(t1, FLOW, COMPONENT, "request_market_data", "error", request_id=rid, key=symbol,
                           latency=t1 - t0, detail=f"{type(exc).__name__}: {exc}")
                raise
            arr = self.feed.window(symbol, timeframe, history).arrays(history)
            t1 = clock.now()
            log.record(t1, FLOW, COMPONENT, "request_market_data", "ok", request_id=rid, key=symbol,
                       latency=t1 - t0, detail=f"{len(arr)} closed candles (window)")
            if len(arr) < rules.min_candles:
                log.record(t1, FLOW, COMPONENT, "process_indicators", "error", request_id=rid, key=symbol,
                           detail="insufficient data")
                raise InsufficientData(
                    f"{symbol} {timeframe}: {len(arr)} closed candles as of {math.floor(t0 * 1000.0)} ms, "
                    f"the rules need at least {rules.min_candles}")
            values = rules.indicators(arr.high, arr.low, arr.close, arr.volume)
            as_of = int(arr.timestamp[-1]) + tf_ms
        t2 = clock.now()
        log.record(t2, FLOW, COMPONENT, "process_indicators", "ok", request_id=rid, key=symbol,
                   latency=t2 - t1)
        decision = rules.decide(values)
        t3 = clock.now()
        log.record(t3, FLOW, COMPONENT, "apply_trading_logic", "ok", request_id=rid, key=symbol,
                   latency=t3 - t2, detail=f"{decision.action.value} {decision.confidence:.3f}")
        return Signal(symbol=symbol, timeframe=timeframe, action=decision.action,
                      confidence=decision.confidence, indicators=values, as_of=as_of,
                      reasons=decision.reasons)
