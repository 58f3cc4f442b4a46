"""Strategy_Engine of the Complete Trading Signal Flow: market data -> indicators -> rules -> Signal.

Steps recorded in the event log (flow ``trading_signal``, component ``Strategy_Engine``), each with
its latency on the injected clock:

1. ``request_market_data`` — ``source.get_ohlcv(symbol, timeframe, limit=history + 1)``;
2. ``process_indicators`` — the indicator snapshot of the closed candles;
3. ``apply_trading_logic`` — the rules' vote.

No look-ahead: only candles *closed* at the clock's now (``timestamp + timeframe <= now``) are used,
whatever the source returns, so a still-forming or future candle can never change a signal; the
signal's ``as_of`` is the close time of the last candle used.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from supreme.clock import Clock
from supreme.errors import SupremeError
from supreme.events import NULL_LOG, EventLog, new_request_id
from supreme.market.timeframes import timeframe_ms
from supreme.strategy.rules import RuleConfig, TradingRules
from supreme.strategy.signal import Signal

__all__ = [
    "CandleSource",
    "InsufficientData",
    "InvalidMarketData",
    "StrategyEngine",
    "timeframe_ms",
]

FLOW = "trading_signal"
COMPONENT = "Strategy_Engine"
_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


class CandleSource(Protocol):
    """Anything that serves the OHLCV candles visible as of its clock's now (e.g. MarketDataFeed)."""

    def get_ohlcv(self, symbol: str, timeframe: str = "1m", limit: int = 100, *,
                  request_id: str | None = None) -> Any:
        """DataFrame with columns timestamp (int64 ms UTC), open, high, low, close, volume.

        ``request_id`` ties the source's own event-log rows to the signal request.
        """
        ...


class InsufficientData(SupremeError):
    """Too few closed candles for the longest indicator lookback."""


class InvalidMarketData(SupremeError, ValueError):
    """The source answered with missing columns, unordered timestamps or non-finite prices."""


class StrategyEngine:
    """Generates trading signals from a candle source with configurable rules."""

    def __init__(
        self,
        source: CandleSource,
        clock: Clock,
        rules: TradingRules | RuleConfig | None = None,
        event_log: EventLog = NULL_LOG,
    ) -> None:
        self.source = source
        self.clock = clock
        self.rules = rules if isinstance(rules, TradingRules) else TradingRules(rules)
        self.event_log = event_log

    def warm_up(self) -> None:
        """Load the compiled indicator kernels now, so the first real request does not pay for it.

        numba loads (or compiles) a kernel on its first call, which costs a few hundred ms; a server
        calls this at start-up, before it reports ready.
        """
        n = self.rules.config.history + 1
        close = np.linspace(100.0, 110.0, n)
        self.rules.decide(self.rules.indicators(close + 1.0, close - 1.0, close, np.ones(n)))

    def generate(self, symbol: str, timeframe: str = "1m", request_id: str | None = None) -> Signal:
        """The signal for ``symbol`` on ``timeframe`` as of the clock's now."""
        rid = request_id if request_id is not None else new_request_id()
        log, clock = self.event_log, self.clock
        tf_ms = timeframe_ms(timeframe)
        history = self.rules.config.history

        t0 = clock.now()
        now_ms = math.floor(t0 * 1000.0)
        try:
            frame = self.source.get_ohlcv(symbol, timeframe, limit=history + 1, request_id=rid)
            ts, _open, h, lo, c, v = _closed_window(frame, now_ms, tf_ms, history, symbol)
        except Exception as exc:
            t1 = clock.now()
            log.record(t1, FLOW, COMPONENT, "request_market_data", "error", request_id=rid, key=symbol,
                       latency=t1 - t0, detail=f"{type(exc).__name__}: {exc}")
            raise
        t1 = clock.now()
        log.record(t1, FLOW, COMPONENT, "request_market_data", "ok", request_id=rid, key=symbol,
                   latency=t1 - t0, detail=f"{ts.size} closed candles")
        if ts.size < self.rules.min_candles:
            log.record(t1, FLOW, COMPONENT, "process_indicators", "error", request_id=rid, key=symbol,
                       detail="insufficient data")
            raise InsufficientData(
                f"{symbol} {timeframe}: {ts.size} closed candles as of {now_ms} ms, "
                f"the rules need at least {self.rules.min_candles}"
            )

        values = self.rules.indicators(h, lo, c, v)
        t2 = clock.now()
        log.record(t2, FLOW, COMPONENT, "process_indicators", "ok", request_id=rid, key=symbol,
                   latency=t2 - t1)

        decision = self.rules.decide(values)
        t3 = clock.now()
        log.record(t3, FLOW, COMPONENT, "apply_trading_logic", "ok", request_id=rid, key=symbol,
                   latency=t3 - t2, detail=f"{decision.action.value} {decision.confidence:.3f}")
        return Signal(
            symbol=symbol,
            timeframe=timeframe,
            action=decision.action,
            confidence=decision.confidence,
            indicators=values,
            as_of=int(ts[-1]) + tf_ms,
            reasons=decision.reasons,
        )


def _closed_window(
    frame: Any, now_ms: int, tf_ms: int, history: int, symbol: str
) -> tuple[np.ndarray[Any, Any], ...]:
    fast = _closed_window_fast(frame, now_ms, tf_ms, history)
    if fast is not None:
        return fast
    missing = [col for col in _COLUMNS if col not in getattr(frame, "columns", ())]
    if missing:
        raise InvalidMarketData(f"{symbol}: market data lacks columns {missing}")
    ts = np.asarray(frame["timestamp"].to_numpy(), dtype=np.int64)
    if ts.size > 1 and not bool(np.all(ts[1:] > ts[:-1])):
        raise InvalidMarketData(f"{symbol}: candle timestamps are not strictly increasing")
    cut, start = _window_bounds(ts, now_ms, tf_ms, history)
    ts = ts[start:cut]
    cols = []
    for col in _COLUMNS[1:]:
        a = np.ascontiguousarray(frame[col].to_numpy()[start:cut], dtype=np.float64)
        if not bool(np.isfinite(a).all()):
            bad = int(ts[int(np.flatnonzero(~np.isfinite(a))[0])])
            raise InvalidMarketData(f"{symbol}: non-finite {col} in the candle at {bad} ms")
        cols.append(a)
    return (ts, *cols)


def _window_bounds(ts: np.ndarray[Any, Any], now_ms: int, tf_ms: int, history: int) -> tuple[int, int]:
    # keep candles closed by now: timestamp + tf <= now  (drops forming and future candles)
    cut = int(np.searchsorted(ts, now_ms - tf_ms, side="right"))
    return cut, max(0, cut - history)


#: The last column Index seen to equal _COLUMNS (one slot; see _closed_window_fast).
_checked_columns: list[Any] = [None]


def _closed_window_fast(
    frame: Any, now_ms: int, tf_ms: int, history: int
) -> tuple[np.ndarray[Any, Any], ...] | None:
    """The usual case in one conversion, or None to take the checked per-column path.

    A frame with exactly the ccxt columns, in order, becomes one float64 matrix (~7 µs, where six
    pandas column look-ups cost ~60 µs).  Anything unusual — other columns, timestamps that are not
    whole numbers, unordered timestamps, non-finite prices — returns None, so the per-column path
    produces exactly its error messages.  Millisecond timestamps are exact in float64 (< 2**53).
    """
    columns = getattr(frame, "columns", None)
    if columns is None:
        return None
    if columns is not _checked_columns[0]:
        # pandas Index objects are immutable, and a source's row slices share their parent's:
        # remember the last one that matched instead of comparing strings on every signal
        if len(columns) != len(_COLUMNS) or columns.tolist() != list(_COLUMNS):
            return None
        _checked_columns[0] = columns
    try:
        arr = frame.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        return None
    ts_f = arr[:, 0]
    ts = ts_f.astype(np.int64)
    if not bool(np.array_equal(ts, ts_f)) or (ts.size > 1 and not bool(np.all(ts[1:] > ts[:-1]))):
        return None
    cut, start = _window_bounds(ts, now_ms, tf_ms, history)
    block = arr[start:cut, 1:]
    if not bool(np.isfinite(block).all()):
        return None
    cols = np.ascontiguousarray(block.T)  # one row per column, each contiguous for the kernels
    return (ts[start:cut], *cols)
