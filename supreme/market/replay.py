"""Recorded data served "as of" the clock: the honest test double of a live exchange.

Visibility rule (no look-ahead): at clock time ``now`` (ms, floored) a candle that opens at
``t`` is visible iff it has *closed*, ``t + timeframe <= now``; a trade at ``t`` is visible
iff ``t <= now``.  The forming candle is never shown (a recording has no partial candles
to show honestly).  Lookups are ``numpy.searchsorted`` over the timestamp column, so a
call costs O(log n + rows returned) however long the recording.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from supreme.clock import Clock
from supreme.market.connector import ExchangeError, UnknownSymbol
from supreme.market.timeframes import timeframe_ms
from supreme.market.window import CandleArrays

__all__ = ["ReplayConnector"]

_OHLCV = ["open", "high", "low", "close", "volume"]


@dataclass(frozen=True)
class _Candles:
    ts: np.ndarray  # open times, int64 ms, strictly increasing
    close_ts: np.ndarray  # ts + timeframe
    columns: np.ndarray  # (5, n) float64 open/high/low/close/volume, each row contiguous

    @property
    def values(self) -> np.ndarray:
        """(n, 5) view: one row per candle."""
        return self.columns.T


@dataclass(frozen=True)
class _Trades:
    ts: np.ndarray
    price: np.ndarray
    amount: np.ndarray
    side: list[Any]
    ids: list[str]


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class ReplayConnector:
    """An :class:`~supreme.market.connector.ExchangeConnector` over recorded frames, as of ``clock.now()``."""

    def __init__(
        self,
        frames: Mapping[str, pd.DataFrame],
        clock: Clock,
        timeframe: str = "1m",
        *,
        trades: Mapping[str, pd.DataFrame] | None = None,
        name: str = "replay",
    ) -> None:
        self.name = name
        self.clock = clock
        self.timeframe = timeframe
        self._tf_ms = timeframe_ms(timeframe)
        self._candles: dict[str, _Candles] = {}
        self._trades: dict[str, _Trades] = {}
        for symbol, frame in frames.items():
            ts = frame["timestamp"].to_numpy(dtype=np.int64)
            if ts.size > 1 and not bool(np.all(np.diff(ts) > 0)):
                raise ValueError(f"replay candles for {symbol!r} must have strictly increasing timestamps")
            values = np.ascontiguousarray(frame[_OHLCV].to_numpy(dtype=np.float64))
            ts = ts.copy()
            columns = np.ascontiguousarray(values.T)
            ts.flags.writeable = columns.flags.writeable = False  # views of these are handed out
            self._candles[symbol] = _Candles(ts, ts + self._tf_ms, columns)
        for symbol, frame in (trades or {}).items():
            ts = frame["timestamp"].to_numpy(dtype=np.int64)
            if ts.size > 1 and not bool(np.all(np.diff(ts) >= 0)):
                raise ValueError(f"replay trades for {symbol!r} must be in time order")
            ids = (
                [str(i) if i is not None else str(k) for k, i in enumerate(frame["id"].tolist())]
                if "id" in frame.columns
                else [str(k) for k in range(len(frame))]
            )
            side = frame["side"].tolist() if "side" in frame.columns else [None] * len(frame)
            self._trades[symbol] = _Trades(
                ts,
                frame["price"].to_numpy(dtype=np.float64),
                frame["amount"].to_numpy(dtype=np.float64),
                side,
                ids,
            )

    # ------------------------------------------------------------------ metadata
    @property
    def symbols(self) -> list[str]:
        """Symbols with candles or trades."""
        return sorted(set(self._candles) | set(self._trades))

    @property
    def timeframes(self) -> list[str]:
        """The one recorded timeframe."""
        return [self.timeframe]

    def now_ms(self) -> int:
        """Clock time in whole ms, floored (rounding down can only hide data, never reveal it)."""
        return math.floor(self.clock.now() * 1000.0)

    def span_ms(self, symbol: str) -> tuple[int, int]:
        """``(first open time, last close time)`` of the recorded candles of ``symbol``."""
        c = self._candles_of(symbol)
        if c.ts.size == 0:
            raise ExchangeError(f"{self.name}: no candles recorded for {symbol!r}")
        return int(c.ts[0]), int(c.close_ts[-1])

    def last_closed_ms(self, symbol: str, timeframe: str | None = None) -> int | None:
        """Open time of the newest visible candle (``None`` before the first closes)."""
        c = self._candles_of(symbol)
        hi = int(np.searchsorted(c.close_ts, self.now_ms(), side="right"))
        return int(c.ts[hi - 1]) if hi else None

    def _candles_of(self, symbol: str) -> _Candles:
        try:
            return self._candles[symbol]
        except KeyError:
            raise UnknownSymbol(
                f"{self.name}: no candles for symbol {symbol!r}; have {sorted(self._candles)}"
            ) from None

    def _trades_of(self, symbol: str) -> _Trades:
        try:
            return self._trades[symbol]
        except KeyError:
            if symbol in self._candles:
                return _Trades(np.empty(0, np.int64), np.empty(0), np.empty(0), [], [])
            raise UnknownSymbol(
                f"{self.name}: no trades for symbol {symbol!r}; have {self.symbols}"
            ) from None

    @staticmethod
    def _window(hi: int, sorted_ts: np.ndarray, since: int | None, limit: int | None) -> tuple[int, int]:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        if since is None:
            lo = 0 if limit is None else max(0, hi - limit)
            return lo, hi
        lo = min(int(np.searchsorted(sorted_ts, since, side="left")), hi)
        return lo, hi if limit is None else min(hi, lo + limit)

    # ------------------------------------------------------------------ ccxt-shaped calls
    def fetch_ohlcv(
        self, symbol: str, timeframe: str = "1m", since: int | None = None, limit: int | None = None
    ) -> list[list[float]]:
        """Closed candles as of now; ``since`` (ms, inclusive) and ``limit`` as in ccxt."""
        c = self._candles_of(symbol)
        if timeframe != self.timeframe:
            raise ExchangeError(f"{self.name}: {symbol} is recorded at {self.timeframe}, not {timeframe!r}")
        hi = int(np.searchsorted(c.close_ts, self.now_ms(), side="right"))
        lo, hi = self._window(hi, c.ts, since, limit)
        return [[t, *v] for t, v in zip(c.ts[lo:hi].tolist(), c.values[lo:hi].tolist(), strict=True)]

    def fetch_ohlcv_arrays(
        self, symbol: str, timeframe: str = "1m", since: int | None = None, limit: int | None = None
    ) -> CandleArrays:
        """:meth:`fetch_ohlcv` as column arrays (read-only views of the recording: no rows built)."""
        c = self._candles_of(symbol)
        if timeframe != self.timeframe:
            raise ExchangeError(f"{self.name}: {symbol} is recorded at {self.timeframe}, not {timeframe!r}")
        hi = int(np.searchsorted(c.close_ts, self.now_ms(), side="right"))
        lo, hi = self._window(hi, c.ts, since, limit)
        v = c.columns
        return CandleArrays(c.ts[lo:hi], v[0, lo:hi], v[1, lo:hi], v[2, lo:hi], v[3, lo:hi], v[4, lo:hi])

    def fetch_trades(
        self, symbol: str, since: int | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Trades with ``timestamp <= now``; ``since`` inclusive, ``limit`` keeps the oldest after
        ``since`` (or the newest when ``since`` is not given), as ccxt does."""
        tr = self._trades_of(symbol)
        hi = int(np.searchsorted(tr.ts, self.now_ms(), side="right"))
        lo, hi = self._window(hi, tr.ts, since, limit)
        out = []
        for k in range(lo, hi):
            t = int(tr.ts[k])
            price, amount = float(tr.price[k]), float(tr.amount[k])
            out.append(
                {
                    "id": tr.ids[k],
                    "timestamp": t,
                    "datetime": _iso(t),
                    "symbol": symbol,
                    "side": tr.side[k],
                    "price": price,
                    "amount": amount,
                    "cost": price * amount,
                }
            )
        return out

    def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        """Ticker from the newest visible candle or trade (whichever is later)."""
        now = self.now_ms()
        ticker: dict[str, Any] | None = None
        if symbol in self._candles:
            c = self._candles[symbol]
            hi = int(np.searchsorted(c.close_ts, now, side="right"))
            if hi:
                o, h, lo, cl, vol = c.values[hi - 1].tolist()
                t = int(c.close_ts[hi - 1])
                ticker = {
                    "open": o,
                    "high": h,
                    "low": lo,
                    "close": cl,
                    "last": cl,
                    "baseVolume": vol,
                    "timestamp": t,
                }
        tr = self._trades_of(symbol)
        hi = int(np.searchsorted(tr.ts, now, side="right"))
        if hi and (ticker is None or int(tr.ts[hi - 1]) >= ticker["timestamp"]):
            price = float(tr.price[hi - 1])
            ticker = {**(ticker or {}), "last": price, "close": price, "timestamp": int(tr.ts[hi - 1])}
        if ticker is None:
            raise ExchangeError(f"{self.name}: nothing recorded for {symbol!r} is visible yet at {_iso(now)}")
        ticker.update(symbol=symbol, datetime=_iso(ticker["timestamp"]), bid=None, ask=None)
        return ticker
