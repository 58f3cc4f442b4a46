"""The markets the API serves: one replay connector per recording, routed by symbol, on the market clock.

Market time (the replay clock)
------------------------------
The bundled sample is daily history (1999-2018), so the feed cannot run on wall time.  The market
clock is a :class:`~supreme.clock.ScaledClock` over the service clock::

    market_now = replay_start + replay_speed * (service_now - service_start)

``replay_start`` defaults to the close of the newest recorded candle (every candle visible, the
signal is "as of" the last session) and ``replay_speed`` to 1.0, so market-side step latencies in
the event log (Strategy_Engine, Market_Data_Feed, Exchange_Connector) are real seconds.  With
``--replay-speed 86400`` a trading day passes per second and the signal's ``as_of`` moves; those
step latencies are then in *market* seconds (scaled), while the gateway's total latency — what the
SLA is judged on — is always on the service clock.  A ScaledClock (rather than a ManualClock
advanced per request) keeps concurrent requests honest: the as-of time does not depend on how many
requests arrived before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import pandas as pd

from supreme.clock import Clock, ScaledClock
from supreme.config import ConfigError
from supreme.market.connector import UnknownSymbol
from supreme.market.recording import open_recording, open_sample
from supreme.market.replay import ReplayConnector
from supreme.market.sample import SAMPLE_TIMEFRAME, sample_symbols
from supreme.market.timeframes import timeframe_ms
from supreme.market.window import CandleArrays

__all__ = ["MarketInfo", "ReplayMarkets", "RoutingConnector", "live_markets", "open_markets",
           "parse_replay_start"]


@dataclass(frozen=True)
class MarketInfo:
    """One replayed market: its timeframe, recorded span and provenance."""

    symbol: str
    timeframe: str
    first_ms: int
    last_close_ms: int
    source: str


class RoutingConnector:
    """An exchange connector over several replay connectors, one per symbol (each its own timeframe)."""

    def __init__(self, connectors: Mapping[str, ReplayConnector], name: str = "replay") -> None:
        self.name = name
        self._by_symbol = dict(connectors)

    @property
    def symbols(self) -> list[str]:
        """Every routed symbol."""
        return sorted(self._by_symbol)

    @property
    def timeframes(self) -> list[str]:
        """Every recorded timeframe."""
        return sorted({c.timeframe for c in self._by_symbol.values()})

    def _of(self, symbol: str) -> ReplayConnector:
        try:
            return self._by_symbol[symbol]
        except KeyError:
            raise UnknownSymbol(f"{self.name}: no market {symbol!r}; have {self.symbols}") from None

    def last_closed_ms(self, symbol: str, timeframe: str | None = None) -> int | None:
        """Open time of the newest visible candle of ``symbol``."""
        return self._of(symbol).last_closed_ms(symbol, timeframe)

    def fetch_ohlcv(self, symbol: str, timeframe: str = "1m", since: int | None = None,
                    limit: int | None = None) -> list[list[float]]:
        """Candles of ``symbol`` from its replay connector."""
        return self._of(symbol).fetch_ohlcv(symbol, timeframe, since, limit)

    def fetch_ohlcv_arrays(self, symbol: str, timeframe: str = "1m", since: int | None = None,
                           limit: int | None = None) -> CandleArrays:
        """Candles of ``symbol`` as column arrays (the feed's window path: no rows built)."""
        return self._of(symbol).fetch_ohlcv_arrays(symbol, timeframe, since, limit)

    def fetch_trades(self, symbol: str, since: int | None = None, limit: int | None = None) -> list[Any]:
        """Trades of ``symbol`` (none are recorded for candle files)."""
        return self._of(symbol).fetch_trades(symbol, since, limit)

    def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        """Ticker of ``symbol``."""
        return self._of(symbol).fetch_ticker(symbol)


def parse_replay_start(text: str | float | None) -> float | None:
    """Replay start as epoch seconds from a number or an ISO date/time (UTC when no zone is given)."""
    if text is None or isinstance(text, (int, float)):
        return None if text is None else float(text)
    value = text.strip()
    if re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value):
        return float(value)
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--replay-start must be epoch seconds or an ISO date, got {text!r}") from exc
    if stamp is pd.NaT:
        raise ConfigError(f"--replay-start must be epoch seconds or an ISO date, got {text!r}")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return float(stamp.timestamp())


@dataclass(frozen=True)
class ReplayMarkets:
    """The served markets, the clock they replay on and the connector that routes to them."""

    markets: dict[str, MarketInfo]
    clock: Clock
    connector: Any  # a RoutingConnector over replays, or a live ExchangeConnector (live_markets)


def live_markets(connector: Any, clock: Clock, symbols: Sequence[str],
                 timeframe: str = "1m") -> ReplayMarkets:
    """``symbols`` on a live exchange connector (e.g. :class:`~supreme.market.ccxt_connector.CcxtConnector`)
    on the service's own clock: market time is real time.  Nothing is recorded, so the span is 0..now."""
    if not symbols:
        raise ConfigError("a live exchange needs at least one symbol (--symbols)")
    timeframe_ms(timeframe)  # an unknown timeframe is refused here, before serving
    now_ms = int(clock.now() * 1000.0)
    source = f"live:{getattr(connector, 'name', type(connector).__name__)}"
    markets = {s: MarketInfo(s, timeframe, 0, now_ms, source) for s in symbols}
    return ReplayMarkets(markets, clock, connector)


def open_markets(clock: Clock, symbols: Iterable[str] | None = None, recorded: Sequence[str | Path] = (), *,
                 market_clock: Clock | None = None, replay_start: float | str | None = None,
                 replay_speed: float = 1.0) -> ReplayMarkets:
    """The bundled samples (all unless ``symbols``) plus ``recorded`` files, replayed on ``market_clock``
    or on a ScaledClock over ``clock`` from ``replay_start`` (default: the newest candle's close)."""
    frames: dict[str, tuple[pd.DataFrame, str, str]] = {}
    wanted = list(symbols) if symbols is not None else sample_symbols()
    recordings = chain((open_sample(sym, timeframe=SAMPLE_TIMEFRAME) for sym in wanted),
                       (open_recording(path) for path in recorded))
    for rec in recordings:  # one by one: the first bad recording is the one reported
        if rec.timeframe is None:
            raise ConfigError(f"cannot infer the timeframe of recording {rec.source}")
        frames[rec.symbol] = (rec.frame, rec.timeframe, rec.source)
    if not frames:
        raise ConfigError("no market data: give the sample symbols or at least one recorded file")
    markets: dict[str, MarketInfo] = {}
    for sym, (frame, tf, source) in frames.items():
        ts = frame["timestamp"].to_numpy()
        markets[sym] = MarketInfo(sym, tf, int(ts[0]), int(ts[-1]) + timeframe_ms(tf), source)
    start = parse_replay_start(replay_start)
    if market_clock is None:
        if start is None:
            start = max(m.last_close_ms for m in markets.values()) / 1000.0
        market_clock = ScaledClock(start, replay_speed, base=clock)
    connectors = {sym: ReplayConnector({sym: fr}, market_clock, tf, name=f"replay:{sym}")
                  for sym, (fr, tf, _) in frames.items()}
    return ReplayMarkets(markets, market_clock, RoutingConnector(connectors))
