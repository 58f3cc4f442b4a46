"""Signals for a block of newly closed candles: the stream shape of :meth:`StrategyEngine.generate`.

:func:`signal_block` takes a stream's :class:`~supreme.market.window.CandleWindow` right after the feed
appended ``new`` candles and returns the signal at each of them, as :meth:`generate` would return it
at that candle's close (same window of ``history`` closed candles, same kernels, same vote: see
:mod:`supreme.strategy.batch`).  Candles before the rules' ``min_candles`` get no signal, where
``generate`` raises ``InsufficientData``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from supreme.market.timeframes import timeframe_ms
from supreme.market.window import CandleWindow
from supreme.strategy.batch import snapshot_windows, vote_codes
from supreme.strategy.indicator_kernels import SNAPSHOT_FIELDS
from supreme.strategy.rules import TradingRules
from supreme.strategy.vote import ACTION_CODES

__all__ = ["SignalBlock", "signal_block", "signals_frame"]

_ACTIONS = np.array(ACTION_CODES, dtype=object)


class SignalBlock(NamedTuple):
    """Signals of consecutive candles of one stream, as column arrays."""

    symbol: str
    timeframe: str
    timestamp: np.ndarray[Any, np.dtype[np.int64]]  # open time of the candle the signal is at
    as_of: np.ndarray[Any, np.dtype[np.int64]]  # its close time (the signal's as_of)
    close: np.ndarray[Any, np.dtype[np.float64]]
    action: np.ndarray[Any, np.dtype[np.int8]]  # index into ACTION_CODES
    score: np.ndarray[Any, np.dtype[np.float64]]
    confidence: np.ndarray[Any, np.dtype[np.float64]]
    snapshot: np.ndarray[Any, np.dtype[np.float64]]  # (n, len(SNAPSHOT_FIELDS)); NaN = undefined

    def __len__(self) -> int:
        return int(self.timestamp.size)

    def matrix(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        """One float64 row per signal: timestamp, as_of, close, action, score, confidence, snapshot
        (ms timestamps are exact in float64); the form the cache stores."""
        head = np.column_stack([self.timestamp, self.as_of, self.close, self.action, self.score,
                                self.confidence]).astype(np.float64)
        return np.ascontiguousarray(np.hstack([head, self.snapshot]))

    def frame(self) -> pd.DataFrame:
        """The signals as a DataFrame (action as its word), one row per candle."""
        return signals_frame([self])


def signals_frame(blocks: Sequence[SignalBlock]) -> pd.DataFrame:
    """The signals of ``blocks``, in order, as one DataFrame (built once, not per block)."""
    blocks = [b for b in blocks if len(b)]
    n = sum(len(b) for b in blocks)

    def cat(name: str) -> np.ndarray[Any, Any]:
        parts = [getattr(b, name) for b in blocks]
        return np.concatenate(parts) if parts else np.empty(0)

    snap = np.concatenate([b.snapshot for b in blocks]) if blocks else np.empty((0, len(SNAPSHOT_FIELDS)))
    lengths = [len(b) for b in blocks]
    symbol = np.repeat(np.array([b.symbol for b in blocks], dtype=object), lengths)
    tf = np.repeat(np.array([b.timeframe for b in blocks], dtype=object), lengths)
    data: dict[str, Any] = {
        "symbol": symbol, "timeframe": tf, "timestamp": cat("timestamp").astype(np.int64),
        "as_of": cat("as_of").astype(np.int64), "close": cat("close"),
        "action": _ACTIONS[cat("action").astype(np.int8)], "score": cat("score"),
        "confidence": cat("confidence"),
    }
    for j, name in enumerate(SNAPSHOT_FIELDS):
        data[name] = snap[:, j]
    return pd.DataFrame(data, index=pd.RangeIndex(n))


def signal_block(rules: TradingRules, window: CandleWindow, new: int) -> SignalBlock:
    """The signal at each of the newest ``new`` candles of ``window`` (see the module docstring)."""
    buf = window.buffered()
    n = len(buf)
    if not 0 <= new <= n:
        raise ValueError(f"{window.symbol}: {new} new candles but {n} in the window")
    history, need = rules.config.history, rules.min_candles
    # a window holds min(end, history) candles: the buffer starts at the stream's start until it is full
    first = max(n - new + 1, need if window.appended == n else 1)
    ends = np.arange(first, n + 1, dtype=np.int64)
    if window.appended != n:
        ends = ends[ends >= history]  # a compacted buffer keeps >= history rows before the block
    snap = snapshot_windows(rules, buf.high, buf.low, buf.close, buf.volume, ends)
    action, score, conf = vote_codes(rules, snap)
    idx = ends - 1
    ts = buf.timestamp[idx]
    return SignalBlock(window.symbol, window.timeframe, ts, ts + timeframe_ms(window.timeframe),
                       buf.close[idx].copy(), action, score, conf, snap)
