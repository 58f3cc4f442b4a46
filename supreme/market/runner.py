"""Replay a recorded frame through ReplayConnector + MarketDataFeed and summarise what came out.

Shared by ``supreme replay`` and ``supreme demo``.  Everything reported about the market
(rows, last close, returns) is computed from the candles the *feed delivered* to a
subscriber, so the summary checks the real path, not the input file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from supreme.clock import Clock, ManualClock, ScaledClock, SystemClock
from supreme.events import NULL_LOG, EventLog
from supreme.market.feed import CacheLike, MarketDataFeed, Update, ohlcv_frame
from supreme.market.replay import ReplayConnector
from supreme.market.timeframes import timeframe_ms
from supreme.market.validation import find_gaps

__all__ = ["ReplayResult", "format_summary", "replay_frame"]


@dataclass
class ReplayResult:
    """The summary figures and the candles the feed published."""

    summary: dict[str, Any]
    candles: pd.DataFrame
    event_log: EventLog


def replay_frame(
    frame: pd.DataFrame,
    symbol: str,
    timeframe: str,
    *,
    speed: float | None = None,
    step_candles: int = 1,
    limit: int | None = None,
    progress: bool = False,
    event_log: EventLog = NULL_LOG,
    cache: CacheLike | None = None,
    base_clock: Clock | None = None,
    connector_wrapper: Callable[[ReplayConnector, Clock], Any] | None = None,
) -> ReplayResult:
    """Replay ``frame`` candle by candle; ``speed=None`` is as fast as possible (ManualClock).

    ``step_candles`` candles' worth of market time pass between polls; ``limit`` keeps the
    first rows only; ``connector_wrapper(connector, clock)`` may wrap the replay connector
    (e.g. in a FaultyConnector).
    """
    if limit is not None:
        frame = frame.iloc[:limit].reset_index(drop=True)
    if frame.empty:
        raise ValueError(f"nothing to replay for {symbol}: the frame has no rows")
    if step_candles < 1:
        raise ValueError(f"step_candles must be >= 1, got {step_candles}")
    tf_s = timeframe_ms(timeframe) / 1000.0
    start = int(frame["timestamp"].iloc[0]) / 1000.0
    clock: Clock
    if speed is None:
        clock = ManualClock(start)
    else:
        clock = ScaledClock(start=start, speed=speed, base=base_clock)
    connector: Any = ReplayConnector({symbol: frame}, clock, timeframe)
    if connector_wrapper is not None:
        connector = connector_wrapper(connector, clock)
    feed = MarketDataFeed(connector, clock, cache=cache, event_log=event_log)
    rows: list[list[float]] = []

    def collect(update: Update) -> None:
        rows.append(update["data"])

    feed.subscribe(symbol, "candles", collect, timeframe=timeframe)
    until = int(frame["timestamp"].iloc[-1]) / 1000.0 + tf_s
    wall = SystemClock()
    t0 = wall.now()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(frame), unit="candle", desc=f"replay {symbol}", leave=False)
    try:
        feed.run(until, step_candles * tf_s, on_poll=bar.update if bar is not None else None)
        # A fault may have hidden the last candles at the final poll; poll until caught up.
        for _ in range(100):
            errors = feed.fetch_errors
            if len(rows) >= len(frame) or (feed.poll() == 0 and feed.fetch_errors == errors):
                break
    finally:
        if bar is not None:
            bar.close()
    elapsed = wall.now() - t0
    candles = ohlcv_frame(rows)
    asof = feed.get_ohlcv(symbol, timeframe, limit=1)
    summary = summarise(candles, symbol, timeframe, elapsed)
    summary.update(
        updates_published=feed.published,
        fetch_errors=feed.fetch_errors,
        callback_errors=feed.callback_errors,
        asof_last_close=float(asof["close"].iloc[-1]) if len(asof) else None,
    )
    return ReplayResult(summary, candles, event_log)


def summarise(candles: pd.DataFrame, symbol: str, timeframe: str, elapsed: float) -> dict[str, Any]:
    """Rows, span, gaps, throughput, last close and return statistics of replayed candles."""
    n = len(candles)
    out: dict[str, Any] = {"symbol": symbol, "timeframe": timeframe, "rows": n}
    if n == 0:
        return out
    ts = candles["timestamp"].to_numpy()
    gaps = find_gaps(candles, timeframe)
    close = candles["close"].to_numpy(dtype=float)
    rets = np.diff(np.log(close)) if n > 1 else np.empty(0)
    out.update(
        first=pd.Timestamp(int(ts[0]), unit="ms", tz="UTC").isoformat(),
        last=pd.Timestamp(int(ts[-1]), unit="ms", tz="UTC").isoformat(),
        span=str(pd.Timedelta(int(ts[-1] - ts[0]), unit="ms")),
        gaps=len(gaps),
        longest_gap=str(gaps["duration"].max()) if len(gaps) else "-",
        wall_seconds=round(elapsed, 4),
        rows_per_second=round(n / elapsed, 1) if elapsed > 0 else float("inf"),
        last_close=float(close[-1]),
        total_return=float(close[-1] / close[0] - 1.0),
        mean_log_return=float(rets.mean()) if rets.size else 0.0,
        std_log_return=float(rets.std(ddof=1)) if rets.size > 1 else 0.0,
        min_log_return=float(rets.min()) if rets.size else 0.0,
        max_log_return=float(rets.max()) if rets.size else 0.0,
    )
    return out


def format_summary(summary: dict[str, Any], title: str = "replay summary") -> str:
    """A two-column text table."""

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.6g}"
        return str(v)

    width = max(len(k) for k in summary)
    lines = [title, "-" * max(len(title), width + 20)]
    lines += [f"{k.ljust(width)}  {fmt(v)}" for k, v in summary.items()]
    return "\n".join(lines)
