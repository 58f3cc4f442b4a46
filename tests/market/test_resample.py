"""Resampled candles and trade aggregation equal pandas' resample, bit for bit, on real and gappy data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from supreme.market import load_ohlcv, load_trades
from supreme.market.resample import resample_candles, trades_to_candles
from supreme.market.timeframes import timeframe_ms
from tests.conftest import shared_or_skip

BTC_PERP = "nautilus/btc-perp-20211231-20220201_1m.csv"


def pandas_candles(frame: pd.DataFrame, timeframe: str, min_count: int = 0) -> pd.DataFrame:
    """The reference: pandas resample (left/left), empty buckets dropped."""
    index = pd.to_datetime(frame["timestamp"], unit="ms", utc=True)
    rule = pd.Timedelta(timeframe_ms(timeframe), unit="ms")
    r = frame.drop(columns="timestamp").set_index(index).resample(rule, label="left", closed="left")
    out = r.agg({"open": "first", "high": "max", "low": "min", "close": "last"})
    out["volume"] = r["volume"].sum(min_count=min_count)
    out = out[r["open"].count() > 0]
    out.insert(0, "timestamp", out.index.as_unit("ms").asi8)
    return out.reset_index(drop=True)


def pandas_trades(trades: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    index = pd.to_datetime(trades["timestamp"], unit="ms", utc=True)
    rule = pd.Timedelta(timeframe_ms(timeframe), unit="ms")
    r = trades.set_index(index).resample(rule, label="left", closed="left")
    out = r["price"].ohlc()
    out["volume"] = r["amount"].sum()
    out = out[r["price"].count() > 0]
    out.insert(0, "timestamp", out.index.as_unit("ms").asi8)
    return out.reset_index(drop=True)


def gappy_candles(n: int, seed: int, drop: float = 0.3) -> pd.DataFrame:
    """Seeded 1m random walk with a share of candles and a whole 3-hour stretch removed."""
    rng = np.random.default_rng(seed)
    ts = 1_700_000_040_000 + 60_000 * np.arange(n, dtype=np.int64)  # starts mid-hour, mid-day
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.001, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.001, n))
    volume = rng.gamma(2, 3, n)
    frame = pd.DataFrame(
        {"timestamp": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume}
    )
    keep = rng.uniform(size=n) > drop
    keep[400:580] = False
    return frame.loc[keep].reset_index(drop=True)


@pytest.mark.parametrize("timeframe", ["5m", "15m", "1h", "4h", "1d"])
def test_btc_perp_equals_pandas(timeframe: str) -> None:
    frame = load_ohlcv(shared_or_skip(BTC_PERP))
    want = pandas_candles(frame, timeframe)
    got = resample_candles(frame, timeframe, partial="keep")
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    # The file ends at 05:31, inside every one of these buckets: the last one is still forming.
    assert got.attrs["partial_last"] is True
    dropped = resample_candles(frame, timeframe)
    pd.testing.assert_frame_equal(dropped, want.iloc[:-1], check_exact=True)
    assert dropped.attrs == {"timeframe": timeframe, "partial_last": False}


@pytest.mark.parametrize(("seed", "timeframe"), [(1, "5m"), (2, "15m"), (3, "1h"), (4, "4h"), (5, "3m")])
def test_gappy_synthetic_equals_pandas_and_never_fills(seed: int, timeframe: str) -> None:
    frame = gappy_candles(3_000, seed)
    want = pandas_candles(frame, timeframe)
    got = resample_candles(frame, timeframe, source_timeframe="1m", partial="keep")
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    step = timeframe_ms(timeframe)
    # The 3-hour hole stays a hole: no bucket inside it is invented.
    hole = (frame["timestamp"].iloc[399], frame["timestamp"].iloc[400])
    inside = (got["timestamp"] > hole[0] + step) & (got["timestamp"] + step < hole[1])
    assert not inside.any()
    # Every bucket holds at least one source candle (nothing forward-filled).
    src = frame["timestamp"].to_numpy()
    starts = got["timestamp"].to_numpy()
    assert (np.searchsorted(src, starts + step) > np.searchsorted(src, starts)).all()


def test_arrays_give_the_same_candles_as_the_frame() -> None:
    frame = gappy_candles(1_000, 9)
    arrays = {c: frame[c].to_numpy() for c in frame.columns}
    pd.testing.assert_frame_equal(
        resample_candles(arrays, "15m", source_timeframe="1m"),
        resample_candles(frame, "15m", source_timeframe="1m"),
    )


def test_complete_last_bucket_is_kept_when_dropping_partials() -> None:
    frame = gappy_candles(120, 3, drop=0.0)  # 120 minutes starting at :14
    frame = frame[frame["timestamp"] < 1_700_002_800_000].reset_index(drop=True)  # end at 22:59
    got = resample_candles(frame, "1h")
    assert got["timestamp"].iloc[-1] == 1_700_002_800_000 - 3_600_000
    assert got.attrs["partial_last"] is False
    assert len(got) == len(pandas_candles(frame, "1h"))


def test_five_minute_file_to_one_hour() -> None:
    frame = load_ohlcv(shared_or_skip("freqtrade/ETH_BTC-5m.feather"))
    pd.testing.assert_frame_equal(
        resample_candles(frame, "1h", partial="keep"), pandas_candles(frame, "1h"), check_exact=True
    )
    with pytest.raises(ValueError, match=r"cannot resample 5m candles to the finer timeframe '1m'"):
        resample_candles(frame, "1m")
    with pytest.raises(ValueError, match=r"to '7m': 7m is not a whole multiple of 5m"):
        resample_candles(frame, "7m")


def test_mark_candles_without_volume_keep_nan() -> None:
    frame = load_ohlcv(shared_or_skip("freqtrade/XRP_USDT_USDT-1h-mark.feather"))
    got = resample_candles(frame, "4h", partial="keep")
    pd.testing.assert_frame_equal(got, pandas_candles(frame, "4h", min_count=1), check_exact=True)
    assert got["volume"].isna().all()


def test_bad_arguments_are_refused() -> None:
    frame = gappy_candles(50, 1, drop=0.0)
    with pytest.raises(ValueError, match="not a number followed by"):
        resample_candles(frame, "1x")
    with pytest.raises(ValueError, match="partial must be"):
        resample_candles(frame, "5m", partial="fill")  # type: ignore[arg-type]
    shuffled = frame.iloc[[0, 2, 1, 3]]
    with pytest.raises(ValueError, match=r"strictly increasing \(row 3: 1700000100000 after 1700000160000\)"):
        resample_candles(shuffled, "5m", source_timeframe="1m")
    assert resample_candles(frame.iloc[:0], "5m").empty


@pytest.mark.parametrize(
    ("relative", "timeframe"),
    [
        ("nautilus/btcusdt-trades.parquet", "1s"),
        ("nautilus/btcusdt-trades.parquet", "10s"),
        ("nautilus/bitmex_trades_XBTUSD.csv", "1s"),
        ("freqtrade/XRP_ETH-trades.feather", "1m"),
        ("freqtrade/XRP_ETH-trades.feather", "1h"),
    ],
)
def test_trades_to_candles_equals_pandas(relative: str, timeframe: str) -> None:
    trades = load_trades(shared_or_skip(relative))
    want = pandas_trades(trades, timeframe)
    got = trades_to_candles(trades, timeframe, partial="keep")
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got["volume"].sum() == pytest.approx(trades["amount"].sum())
    pd.testing.assert_frame_equal(trades_to_candles(trades, timeframe), want.iloc[:-1], check_exact=True)


def test_trades_end_ms_closes_the_last_bucket_and_symbols_are_not_mixed() -> None:
    trades = load_trades(shared_or_skip("nautilus/btcusdt-trades.parquet"))
    last = int(trades["timestamp"].iloc[-1])
    end = (last // 10_000 + 1) * 10_000
    closed = trades_to_candles(trades, "10s", end_ms=end)
    assert len(closed) == len(pandas_trades(trades, "10s")) and closed.attrs["partial_last"] is False
    mixed = pd.concat([trades, trades.assign(symbol="ETHUSDT")]).sort_values("timestamp", kind="stable")
    with pytest.raises(ValueError, match="several symbols"):
        trades_to_candles(mixed, "10s")
