"""``serve --live``: the service over CcxtConnector, offline (ccxt's Binance code over recorded payloads)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import ccxt
import pytest
from fastapi.testclient import TestClient

from supreme.api.app import create_app
from supreme.clock import ManualClock
from supreme.config import ConfigError
from supreme.market.ccxt_connector import CcxtConnector
from tests.api.test_app import assert_error, build_services, post_signal

FIX = Path(__file__).parents[1] / "market" / "fixtures"
T0 = 1_637_971_200_000  # the recorded klines' first open time
MINUTE = 60_000


def klines(n: int, seed: int = 17) -> list[list[Any]]:
    """``n`` 1m candles in Binance's wire format (strings, 12 fields), a seeded random walk."""
    rng = random.Random(seed)
    shape = json.loads((FIX / "binance_klines_BTCUSDT_1m.json").read_text())[0]
    out, price = [], 57_000.0
    for i in range(n):
        o = price
        price = max(1.0, price + rng.gauss(0.0, 40.0))
        hi, lo = max(o, price) + rng.random() * 10, min(o, price) - rng.random() * 10
        row = list(shape)
        row[0], row[6] = T0 + i * MINUTE, T0 + (i + 1) * MINUTE - 1
        row[1:6] = [f"{o:.2f}", f"{hi:.2f}", f"{lo:.2f}", f"{price:.2f}", f"{rng.uniform(5, 50):.5f}"]
        out.append(row)
    return out


class Recorded:
    """Where ccxt would do HTTP: the klines payload, and the URLs asked for."""

    def __init__(self, payload: list[list[Any]]) -> None:
        self.payload, self.urls = payload, []

    def __call__(self, url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        self.urls.append(url)
        if "/api/v3/klines" in url:
            return self.payload
        raise AssertionError(f"unexpected request {url}")


def live_connector(clock: ManualClock, payload: list[list[Any]]) -> tuple[CcxtConnector, Recorded]:
    exchange = ccxt.binance({"enableRateLimit": True})
    exchange.set_markets(json.loads((FIX / "binance_markets.json").read_text()))
    fake = Recorded(payload)
    exchange.fetch = fake
    return CcxtConnector(exchange, clock), fake


def test_live_signal_through_ccxt(tmp_path: Path) -> None:
    clock = ManualClock((T0 + 300 * MINUTE) / 1000.0 + 1.0)  # 300 candles closed, none forming
    conn, fake = live_connector(clock, klines(300))
    svc = build_services(tmp_path, clock, symbols=None, live_connector=conn, live_symbols=["BTC/USDT"],
                         live_timeframe="1m")
    try:
        assert svc.market_clock is clock and svc.feed.exchange == "binance"
        key = svc.auth.store.create("ed25519", "signal:read", label="live")
        client = TestClient(create_app(svc))
        resp = post_signal(client, svc, key, {"symbol": "BTC/USDT", "timeframe": "1m"})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["as_of"] == T0 + 300 * MINUTE, body  # the close of the newest closed candle
        assert any("symbol=BTCUSDT" in u and "interval=1m" in u for u in fake.urls)
        symbols = client.get("/api/v1/symbols").json()["symbols"]
        served = [(s["symbol"], s["timeframe"], s["source"]) for s in symbols]
        assert served == [("BTC/USDT", "1m", "live:binance")]
        assert_error(post_signal(client, svc, key, {"symbol": "ETH/USDT", "timeframe": "1m"}), 422,
                     "unknown_symbol")
    finally:
        svc.close()


def test_live_needs_symbols_and_a_known_timeframe(tmp_path: Path, clock: ManualClock) -> None:
    conn, _ = live_connector(clock, klines(3))
    with pytest.raises(ConfigError, match="at least one symbol"):
        build_services(tmp_path, clock, symbols=None, live_connector=conn, live_symbols=[])
    with pytest.raises(Exception, match="7x"):
        build_services(tmp_path, clock, symbols=None, live_connector=conn, live_symbols=["BTC/USDT"],
                       live_timeframe="7x")
