"""CcxtConnector offline: ccxt's real Binance request building and parsing over recorded payloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ccxt
import pytest

from supreme.clock import ManualClock
from supreme.market import ExchangeConnector, ExchangeError, ExchangeUnavailable, UnknownSymbol
from supreme.market.ccxt_connector import CcxtConnector, make_exchange

FIX = Path(__file__).parent / "fixtures"


def load(name: str) -> Any:
    return json.loads((FIX / name).read_text())


class RecordedBinance:
    """Serves recorded payloads where ccxt would do HTTP; remembers the URLs asked for."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.urls: list[str] = []
        self.fail = fail

    def __call__(self, url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        self.urls.append(url)
        if self.fail is not None:
            raise self.fail
        if "/api/v3/klines" in url:
            return load("binance_klines_BTCUSDT_1m.json")
        if "/api/v3/aggTrades" in url:
            return load("binance_aggtrades_BTCUSDT.json")
        if "/api/v3/ticker/24hr" in url:
            return load("binance_ticker_BTCUSDT.json")
        raise AssertionError(f"unexpected request {url}")


def connector(clock: ManualClock, fail: Exception | None = None) -> tuple[CcxtConnector, RecordedBinance]:
    exchange = ccxt.binance({"enableRateLimit": True})
    exchange.set_markets(load("binance_markets.json"))
    fake = RecordedBinance(fail)
    exchange.fetch = fake  # the one HTTP method; everything above it is ccxt's real code
    return CcxtConnector(exchange, clock), fake


def test_fetch_ohlcv_trades_ticker_through_ccxt_parsing(clock: ManualClock) -> None:
    conn, fake = connector(clock)
    assert isinstance(conn, ExchangeConnector)
    rows = conn.fetch_ohlcv("BTC/USDT", "1m", since=1637971200000, limit=3)
    assert rows[0] == [1637971200000, 57150.01, 57190.0, 57111.11, 57180.52, 12.48732]
    assert (
        "symbol=BTCUSDT" in fake.urls[0]
        and "interval=1m" in fake.urls[0]
        and "startTime=1637971200000" in fake.urls[0]
    )
    trades = conn.fetch_trades("BTC/USDT", limit=3)
    assert [t["side"] for t in trades] == ["sell", "buy", "buy"]  # m=true: buyer was maker, taker sold
    assert trades[0]["timestamp"] == 1637971260012 and trades[0]["amount"] == pytest.approx(0.0042)
    ticker = conn.fetch_ticker("BTC/USDT")
    assert (ticker["symbol"], ticker["last"], ticker["bid"], ticker["ask"]) == (
        "BTC/USDT",
        57201.11,
        57201.1,
        57201.11,
    )
    assert conn.symbols == ["BTC/USDT", "ETH/USDT"]
    assert "1m" in conn.timeframes


def test_rate_limit_uses_our_clock_not_real_sleep(clock: ManualClock) -> None:
    conn, _ = connector(clock)
    assert conn.exchange.enableRateLimit is False  # ccxt's real-time limiter is off...
    assert conn.min_interval == pytest.approx(0.05)  # ...and its spacing is enforced on our clock
    t0 = clock.now()
    for _ in range(4):
        conn.fetch_ticker("BTC/USDT")
    assert clock.now() - t0 == pytest.approx(3 * 0.05)


@pytest.mark.parametrize(
    ("fail", "ours"),
    [
        (ccxt.RequestTimeout("timed out"), ExchangeUnavailable),
        (ccxt.ExchangeNotAvailable("maintenance"), ExchangeUnavailable),
        (ccxt.NetworkError("connection reset"), ExchangeUnavailable),
        (ccxt.ExchangeError("weird answer"), ExchangeError),
    ],
)
def test_ccxt_errors_translated(clock: ManualClock, fail: Exception, ours: type[Exception]) -> None:
    conn, _ = connector(clock, fail)
    with pytest.raises(ours, match=r"binance: fetch_ohlcv\(BTC/USDT\)"):
        conn.fetch_ohlcv("BTC/USDT")


def test_unknown_symbol_is_keyerror(clock: ManualClock) -> None:
    conn, fake = connector(clock)
    with pytest.raises(UnknownSymbol, match="DOGE/EUR") as info:
        conn.fetch_ohlcv("DOGE/EUR")
    assert isinstance(info.value, KeyError)
    assert fake.urls == []  # rejected before any request


def test_make_exchange_unknown_id() -> None:
    with pytest.raises(ExchangeError, match="nosuchexchange"):
        make_exchange("nosuchexchange")
