"""The market-data feed: "as of now" candle queries (through the cache) and polled subscriptions.

Queries (flow ``trading_signal``): ``get_ohlcv`` asks the cache for
``ohlcv:{exchange}:{symbol}:{timeframe}:{limit}:{last_closed_ms}``; on a miss the cache calls
the loader, which fetches from the connector.  The key names the newest closed candle, so a
cached answer is never stale: once another candle closes the key changes.

Streaming (flow ``ws_streaming``): one stream per (symbol, channel, timeframe) keeps a cursor;
``poll()`` fetches what became visible since the last poll, orders every update by the time
it became visible, and hands each to the stream's subscribers.  A subscriber that raises is
logged and counted and never stops the others; a failed fetch leaves its cursor where it
was, so the next poll delivers what this one missed (nothing is lost to a fault).

Update dicts: ``{"symbol", "channel", "timestamp", "data"}`` where ``timestamp`` (ms) is when
the item became visible -- a candle's close time, a trade's or ticker's own time -- and
``data`` is the ccxt row/dict (``[ts, o, h, l, c, v]`` for candles).
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from supreme.clock import Clock
from supreme.events import FLOWS, NULL_LOG, EventLog, new_request_id
from supreme.market.connector import ExchangeConnector, ExchangeError
from supreme.market.timeframes import timeframe_ms
from supreme.market.validation import OHLCV_COLUMNS
from supreme.market.window import CandleArrays, CandleWindow

__all__ = ["CHANNELS", "CacheLike", "MarketDataFeed", "Subscription", "Update"]

log = logging.getLogger(__name__)

CHANNELS = ("candles", "trades", "ticker")
Update = dict[str, Any]


class CacheLike(Protocol):
    """The slice of the cache manager the feed uses (``CacheManager.get`` fits it)."""

    def get(self, key: str, loader: Callable[[], Any], *, request_id: str | None = None,
            flow: str | None = None) -> Any:
        """Value for ``key``, calling ``loader`` (and storing its result) on a miss; the cache's event-log
        steps carry ``request_id`` and ``flow``."""
        ...


@dataclass(eq=False)
class Subscription:
    """A subscriber's handle; pass it to :meth:`MarketDataFeed.unsubscribe`."""

    id: int
    symbol: str
    channel: str
    timeframe: str
    callback: Callable[[Update], Any]
    active: bool = True
    delivered: int = 0
    failures: int = 0


@dataclass(eq=False)
class _Stream:
    symbol: str
    channel: str
    timeframe: str
    cursor: int  # candles: next open time wanted; trades: newest time seen; ticker: newest ticker time
    seen_ids: set[str] | None = field(default_factory=set)  # None: all at cursor were visible before
    subs: list[Subscription] = field(default_factory=list)


def ohlcv_frame(rows: list[list[float]]) -> pd.DataFrame:
    """ccxt OHLCV rows as the unified frame."""
    frame = pd.DataFrame(rows, columns=list(OHLCV_COLUMNS), dtype="float64")
    frame["timestamp"] = frame["timestamp"].astype("int64")
    return frame


class MarketDataFeed:
    """Candles as of ``clock.now()`` through an optional cache, plus polled subscriptions."""

    def __init__(
        self,
        connector: ExchangeConnector,
        clock: Clock,
        *,
        cache: CacheLike | None = None,
        event_log: EventLog = NULL_LOG,
        exchange: str = "replay",
        poll_limit: int = 1000,
    ) -> None:
        if poll_limit < 1:
            raise ValueError(f"poll_limit must be >= 1, got {poll_limit}")
        self.connector = connector
        self.clock = clock
        self.cache = cache
        self.event_log = event_log
        self.exchange = exchange
        self.poll_limit = poll_limit
        self._streams: dict[tuple[str, str, str], _Stream] = {}
        self._windows: dict[tuple[str, str], CandleWindow] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.published = 0
        self.callback_errors = 0
        self.fetch_errors = 0

    # ------------------------------------------------------------------ queries
    def _now_ms(self) -> int:
        return math.floor(self.clock.now() * 1000.0)

    def last_closed_ms(self, symbol: str, timeframe: str) -> int:
        """Open time of the newest closed candle: asked of the connector when it can say, else
        the timeframe grid (exchanges open candles on multiples of the timeframe)."""
        probe = getattr(self.connector, "last_closed_ms", None)
        if probe is not None:
            value = probe(symbol, timeframe)
            return -1 if value is None else int(value)
        step = timeframe_ms(timeframe)
        return (self._now_ms() // step) * step - step

    def _fetch(self, flow: str, call: str, symbol: str, fn: Callable[[], Any], rid: str | None) -> Any:
        t0 = self.clock.now()
        try:
            result = fn()
        except ExchangeError as exc:
            t1 = self.clock.now()
            self.event_log.record(
                t1,
                flow,
                "Exchange_Connector",
                call,
                "error",
                request_id=rid,
                key=symbol,
                latency=t1 - t0,
                tier="source",
                detail=str(exc),
            )
            raise
        t1 = self.clock.now()
        self.event_log.record(
            t1,
            flow,
            "Exchange_Connector",
            call,
            "ok",
            request_id=rid,
            key=symbol,
            latency=t1 - t0,
            tier="source",
        )
        return result

    def get_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        limit: int = 100,
        *,
        request_id: str | None = None,
        flow: str = "trading_signal",
    ) -> pd.DataFrame:
        """The newest ``limit`` closed candles as of now, as a unified OHLCV frame.

        ``request_id`` (a fresh one if None) and ``flow`` label this query's steps in the event log --
        the feed's, the connector's and the cache's -- so one request can be followed across them.
        """
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        if flow not in FLOWS:
            raise ValueError(f"unknown flow {flow!r}; known: {', '.join(FLOWS)}")
        rid = request_id or new_request_id()
        t0 = self.clock.now()
        self.event_log.record(t0, flow, "Market_Data_Feed", "request", request_id=rid, key=symbol)
        now_ms = self._now_ms()
        step = timeframe_ms(timeframe)
        missed = False

        def load() -> pd.DataFrame:
            nonlocal missed
            missed = True
            rows = self._fetch(
                flow,
                "fetch",
                symbol,
                lambda: self.connector.fetch_ohlcv(symbol, timeframe, None, limit + 1),
                rid,
            )
            # A live exchange also returns the forming candle; drop it so both worlds agree.
            closed = [r for r in rows if int(r[0]) + step <= now_ms][-limit:]
            return ohlcv_frame(closed)

        if self.cache is None:
            frame = load()
        else:
            last = self.last_closed_ms(symbol, timeframe)
            key = f"ohlcv:{self.exchange}:{symbol}:{timeframe}:{limit}:{last}"
            frame = self._cache_get(key, load, rid, flow)
        t1 = self.clock.now()
        self.event_log.record(
            t1,
            flow,
            "Market_Data_Feed",
            "return",
            "miss" if missed else "hit",
            request_id=rid,
            key=symbol,
            latency=t1 - t0,
            nbytes=int(frame.memory_usage().sum()),
        )
        return frame

    def _cache_get(self, key: str, load: Callable[[], pd.DataFrame], rid: str, flow: str) -> Any:
        assert self.cache is not None
        return self.cache.get(key, loader=load, request_id=rid, flow=flow)

    # ------------------------------------------------------------------ candle windows (streams)
    def window(self, symbol: str, timeframe: str, keep: int) -> CandleWindow:
        """The (symbol, timeframe) window of the last ``keep`` closed candles, made on first use."""
        w = self._windows.get((symbol, timeframe))
        if w is None:
            w = self._windows[(symbol, timeframe)] = CandleWindow(symbol, timeframe, keep)
        elif w.keep < keep:
            raise ValueError(f"{symbol} {timeframe}: the window keeps {w.keep} candles, {keep} asked")
        return w

    def advance(self, symbol: str, timeframe: str, keep: int, *, request_id: str | None = None,
                flow: str = "trading_signal") -> CandleArrays:
        """Append the candles closed since the last call to the stream's window and return them.

        The stream shape of :meth:`get_ohlcv`: no DataFrame, no rows -- a connector with
        ``fetch_ohlcv_arrays`` (the replay connector) hands over column views, any other is asked
        for ccxt rows.  The forming candle is never taken.
        """
        w = self.window(symbol, timeframe, keep)
        t0 = self.clock.now()
        now_ms = self._now_ms()
        step = timeframe_ms(timeframe)
        since = None if w.last_timestamp is None else w.last_timestamp + 1
        fetch_arrays = getattr(self.connector, "fetch_ohlcv_arrays", None)
        if fetch_arrays is not None:
            block = self._fetch(flow, "fetch", symbol, lambda: fetch_arrays(symbol, timeframe, since, None),
                                request_id)
        else:
            rows = self._fetch(flow, "fetch", symbol,
                               lambda: self.connector.fetch_ohlcv(symbol, timeframe, since, self.poll_limit),
                               request_id)
            block = CandleArrays.from_frame(ohlcv_frame(rows))
        closed = int(np.searchsorted(block.timestamp, now_ms - step, side="right"))
        block = block.slice(0, closed)
        w.extend(block)
        t1 = self.clock.now()
        self.event_log.record(t1, flow, "Market_Data_Feed", "advance", "ok", request_id=request_id,
                              key=symbol, latency=t1 - t0, nbytes=len(block) * 48,
                              detail=f"{len(block)} candles")
        return block

    # ------------------------------------------------------------------ subscriptions
    def subscribe(
        self, symbol: str, channel: str, callback: Callable[[Update], Any], *, timeframe: str = "1m"
    ) -> Subscription:
        """Deliver updates of ``channel`` for ``symbol`` that become visible after now."""
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; expected one of {CHANNELS}")
        step = timeframe_ms(timeframe)
        tf = timeframe if channel == "candles" else ""
        sub = Subscription(next(self._ids), symbol, channel, tf, callback)
        with self._lock:
            stream = self._streams.get((symbol, channel, tf))
            if stream is None:
                now = self._now_ms()
                # Start after what is already visible: candles closing later, trades after now.
                cursor = {"candles": now - step + 1, "trades": now, "ticker": -1}[channel]
                stream = _Stream(symbol, channel, tf, cursor, seen_ids=None if channel == "trades" else set())
                self._streams[(symbol, channel, tf)] = stream
            stream.subs = [*stream.subs, sub]  # copy-on-write: poll iterates a snapshot
        self.event_log.record(
            self.clock.now(), "ws_streaming", "Subscription_Manager", "subscribe", key=f"{symbol}:{channel}"
        )
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop deliveries to ``sub`` (idempotent); a stream with no subscribers is dropped."""
        sub.active = False
        with self._lock:
            key = (sub.symbol, sub.channel, sub.timeframe)
            stream = self._streams.get(key)
            if stream is not None:
                stream.subs = [s for s in stream.subs if s is not sub]
                if not stream.subs:
                    del self._streams[key]
        self.event_log.record(
            self.clock.now(),
            "ws_streaming",
            "Subscription_Manager",
            "unsubscribe",
            key=f"{sub.symbol}:{sub.channel}",
        )

    @property
    def subscriptions(self) -> list[Subscription]:
        """Active subscriptions."""
        with self._lock:
            return [s for st in self._streams.values() for s in st.subs]

    def _collect_candles(self, st: _Stream, now_ms: int, out: list[tuple[int, int, _Stream, Any]]) -> None:
        step = timeframe_ms(st.timeframe)
        while True:
            rows = self._fetch(
                "ws_streaming",
                "fetch",
                st.symbol,
                lambda: self.connector.fetch_ohlcv(st.symbol, st.timeframe, st.cursor, self.poll_limit),
                None,
            )
            fresh = [r for r in rows if int(r[0]) >= st.cursor and int(r[0]) + step <= now_ms]
            for r in fresh:
                out.append((int(r[0]) + step, len(out), st, r))
            if fresh:
                st.cursor = int(fresh[-1][0]) + 1
            if len(rows) < self.poll_limit or not fresh:
                return

    def _collect_trades(self, st: _Stream, now_ms: int, out: list[tuple[int, int, _Stream, Any]]) -> None:
        while True:
            trades = self._fetch(
                "ws_streaming",
                "fetch_trades",
                st.symbol,
                lambda: self.connector.fetch_trades(st.symbol, st.cursor, self.poll_limit),
                None,
            )
            fresh = [
                t
                for t in trades
                if int(t["timestamp"]) > st.cursor
                or (
                    int(t["timestamp"]) == st.cursor
                    and st.seen_ids is not None
                    and str(t.get("id")) not in st.seen_ids
                )
            ]
            for t in fresh:
                ts = int(t["timestamp"])
                out.append((ts, len(out), st, t))
                if ts > st.cursor or st.seen_ids is None:
                    st.cursor, st.seen_ids = ts, set()
                st.seen_ids.add(str(t.get("id")))
            if len(trades) < self.poll_limit or not fresh:
                return

    def _collect_ticker(self, st: _Stream, out: list[tuple[int, int, _Stream, Any]]) -> None:
        ticker = self._fetch(
            "ws_streaming", "fetch_ticker", st.symbol, lambda: self.connector.fetch_ticker(st.symbol), None
        )
        ts = ticker.get("timestamp")
        if ts is not None and int(ts) > st.cursor:
            st.cursor = int(ts)
            out.append((int(ts), len(out), st, ticker))

    def poll(self) -> int:
        """Fetch everything newly visible, deliver it in time order, return the number of updates."""
        now_ms = self._now_ms()
        with self._lock:
            streams = list(self._streams.values())
        found: list[tuple[int, int, _Stream, Any]] = []
        for st in streams:
            try:
                if st.channel == "candles":
                    self._collect_candles(st, now_ms, found)
                elif st.channel == "trades":
                    self._collect_trades(st, now_ms, found)
                else:
                    self._collect_ticker(st, found)
            except ExchangeError as exc:
                self.fetch_errors += 1
                log.warning(
                    "feed: polling %s %s failed, will retry next poll: %s", st.symbol, st.channel, exc
                )
        found.sort(key=lambda item: (item[0], item[1]))
        for ts, _, st, data in found:
            update: Update = {"symbol": st.symbol, "channel": st.channel, "timestamp": ts, "data": data}
            for sub in st.subs:
                if not sub.active:
                    continue
                try:
                    sub.callback(update)
                    sub.delivered += 1
                except Exception as exc:  # a bad subscriber must not starve the others
                    sub.failures += 1
                    self.callback_errors += 1
                    log.exception(
                        "feed: subscriber %d (%s %s) failed on update at %d",
                        sub.id,
                        st.symbol,
                        st.channel,
                        ts,
                    )
                    self.event_log.record(
                        self.clock.now(),
                        "ws_streaming",
                        "Subscription_Manager",
                        "broadcast",
                        "error",
                        key=f"{st.symbol}:{st.channel}",
                        detail=repr(exc),
                    )
        self.published += len(found)
        self.event_log.record(
            self.clock.now(), "ws_streaming", "Market_Data_Feed", "poll", "ok", detail=f"updates={len(found)}"
        )
        return len(found)

    def run(self, until: float, step: float, on_poll: Callable[[int], Any] | None = None) -> int:
        """Advance by ``step`` seconds (``clock.sleep``) and poll, until ``clock.now() >= until``."""
        if not step > 0:
            raise ValueError(f"step must be > 0 seconds, got {step}")
        total = 0
        while True:
            now = self.clock.now()
            if now >= until:
                return total
            self.clock.sleep(min(step, until - now))
            n = self.poll()
            total += n
            if on_poll is not None:
                on_poll(n)
