"""Every loader on the real shared recordings, and format detection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from supreme.market import DataValidationError, detect_format, load_ohlcv, load_trades, report_of
from supreme.market.formats import symbol_from_filename
from tests.conftest import shared_or_skip

OHLCV_DTYPES = {
    "timestamp": "int64",
    "open": "float64",
    "high": "float64",
    "low": "float64",
    "close": "float64",
    "volume": "float64",
}


def _check_ohlcv(frame: pd.DataFrame) -> None:
    assert {k: str(v) for k, v in frame.dtypes.items()} == OHLCV_DTYPES
    ts = frame["timestamp"].to_numpy()
    assert np.all(np.diff(ts) > 0)
    assert (frame["high"] >= frame["low"]).all()


@pytest.mark.parametrize(
    ("relative", "fmt", "rows", "timeframe", "first_ms"),
    [
        ("nautilus/btc-perp-20211231-20220201_1m.csv", "csv", 45_031, "1m", 1640991660000),
        ("nautilus/ADABTC-1m-2021-11-27.csv", "binance-kline", 10, "1m", 1637971200000),
        ("freqtrade/UNITTEST_BTC-1m.json", "ccxt-json", 13_681, "1m", 1509836520000),
        ("freqtrade/UNITTEST_BTC-1m.feather", "feather", 13_681, "1m", 1509836520000),
        ("freqtrade/ETH_BTC-5m.feather", "feather", 5_760, "5m", None),
        ("freqtrade/XRP_ETH-1m.feather", "feather", 2_469, "1m", None),
        ("freqtrade/XRP_USDT_USDT-1h-mark.feather", "feather", 100, "1h", None),
    ],
)
def test_ohlcv_loaders_on_real_files(
    relative: str, fmt: str, rows: int, timeframe: str, first_ms: int | None
) -> None:
    path = shared_or_skip(relative)
    assert detect_format(path) == fmt
    frame = load_ohlcv(path)
    _check_ohlcv(frame)
    assert len(frame) == rows
    report = report_of(frame)
    assert report is not None and report.timeframe == timeframe and report.rows_kept == rows
    if first_ms is not None:
        assert frame["timestamp"].iloc[0] == first_ms


def test_freqtrade_json_and_feather_agree() -> None:
    a = load_ohlcv(shared_or_skip("freqtrade/UNITTEST_BTC-1m.json"))
    b = load_ohlcv(shared_or_skip("freqtrade/UNITTEST_BTC-1m.feather"))
    # The feather file rounds prices to 8 decimals; times and volumes must match.
    assert (a["timestamp"].to_numpy() == b["timestamp"].to_numpy()).all()
    np.testing.assert_allclose(a[["open", "close"]], b[["open", "close"]], rtol=1e-6)


def test_unittest_btc_gaps_reported_not_filled() -> None:
    frame = load_ohlcv(shared_or_skip("freqtrade/UNITTEST_BTC-1m.json"))
    gaps = report_of(frame).gaps  # type: ignore[union-attr]
    assert len(gaps) == 538
    assert gaps["duration"].max() == pd.Timedelta(minutes=8)
    assert gaps["missing"].max() == 7
    assert len(frame) == 13_681  # nothing inserted


def test_mark_candles_keep_missing_volume_and_say_so() -> None:
    frame = load_ohlcv(shared_or_skip("freqtrade/XRP_USDT_USDT-1h-mark.feather"))
    assert frame["volume"].isna().all()
    assert any("volume not recorded" in n for n in report_of(frame).notes)  # type: ignore[union-attr]


def test_funding_rate_file_is_rejected_as_ohlcv() -> None:
    path = shared_or_skip("freqtrade/XRP_USDT_USDT-8h-funding_rate.feather")
    with pytest.raises(
        DataValidationError, match=r"funding_rate\.feather: row 1: high 0\.0 is not a positive"
    ):
        load_ohlcv(path)


def test_tardis_file_is_not_ohlcv() -> None:
    path = shared_or_skip("nautilus/bitmex_trades_XBTUSD.csv")
    with pytest.raises(DataValidationError, match="Tardis"):
        load_ohlcv(path)


@pytest.mark.parametrize(
    ("relative", "fmt", "rows", "symbol", "first_side"),
    [
        ("nautilus/btcusdt-trades.parquet", "parquet", 2_001, "BTCUSDT", "sell"),
        ("freqtrade/XRP_ETH-trades.feather", "feather", 12_477, "XRP/ETH", "sell"),
        ("freqtrade/XRP_ETH-trades.json.gz", "freqtrade-json", 12_477, "XRP/ETH", "sell"),
        ("freqtrade/BCHEUR.csv", "kraken-csv", 486, "BCHEUR", None),
        ("nautilus/bitmex_trades_XBTUSD.csv", "tardis-csv", 10, "XBTUSD", "sell"),
    ],
)
def test_trade_loaders_on_real_files(
    relative: str, fmt: str, rows: int, symbol: str, first_side: str | None
) -> None:
    path = shared_or_skip(relative)
    assert detect_format(path, "trades") == fmt
    frame = load_trades(path)
    assert list(frame.columns) == ["timestamp", "symbol", "side", "price", "amount", "id"]
    assert len(frame) == rows
    assert frame["timestamp"].dtype == np.int64
    assert np.all(np.diff(frame["timestamp"].to_numpy()) >= 0)
    assert (frame["symbol"] == symbol).all()
    assert frame["side"].iloc[0] == first_side
    assert (frame["price"] > 0).all() and (frame["amount"] > 0).all()
    assert 1.4e12 < frame["timestamp"].iloc[0] < 1.8e12  # ms, whatever the source unit


def test_freqtrade_trades_feather_and_json_agree() -> None:
    a = load_trades(shared_or_skip("freqtrade/XRP_ETH-trades.feather"))
    b = load_trades(shared_or_skip("freqtrade/XRP_ETH-trades.json.gz"))
    pd.testing.assert_frame_equal(a, b)


def test_binance_trades_side_from_buyer_maker() -> None:
    path = shared_or_skip("nautilus/btcusdt-trades.parquet")
    raw = pd.read_parquet(path)
    frame = load_trades(path, symbol="BTC/USDT")
    maker = raw["buyer_maker"].astype(str).str.lower() == "true"
    assert (frame["side"].to_numpy() == np.where(maker, "sell", "buy")).all()
    assert (frame["symbol"] == "BTC/USDT").all()


@pytest.mark.parametrize(
    ("name", "symbol"),
    [
        ("XRP_ETH-trades.feather", "XRP/ETH"),
        ("XRP_USDT_USDT-1h.feather", "XRP/USDT:USDT"),
        ("btcusdt-trades.parquet", "BTCUSDT"),
        ("BCHEUR.csv", "BCHEUR"),
    ],
)
def test_symbol_from_filename(name: str, symbol: str) -> None:
    assert symbol_from_filename(name) == symbol


def test_round_trip_written_parquet_and_csv(tmp_path: Path) -> None:
    frame = load_ohlcv(shared_or_skip("freqtrade/ETH_BTC-5m.feather"))
    frame.to_parquet(tmp_path / "x.parquet")
    frame.to_csv(tmp_path / "x.csv", index=False)
    for p in ("x.parquet", "x.csv"):
        pd.testing.assert_frame_equal(load_ohlcv(tmp_path / p), frame, check_exact=False)
