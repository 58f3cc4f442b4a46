"""Shared helpers for the strategy tests: recorded data and an honest as-of candle source."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from supreme.clock import Clock
from supreme.errors import SupremeError
from supreme.strategy.engine import timeframe_ms
from tests.conftest import shared_or_skip

BTC_1M = "nautilus/btc-perp-20211231-20220201_1m.csv"


class UnknownSymbol(SupremeError, KeyError):
    """The in-test source has no recording for the symbol."""


class FrameSource:
    """Serves the last ``limit`` candles of a recording that are closed at ``clock.now()``.

    ``leaky=True`` also serves the candle still forming at now (timestamp <= now), as a careless
    feed might; the engine must ignore it.
    """

    def __init__(self, frames: dict[str, pd.DataFrame], clock: Clock, leaky: bool = False) -> None:
        self.frames = frames
        self.clock = clock
        self.leaky = leaky
        self.calls: list[tuple[str, str, int]] = []

    def get_ohlcv(self, symbol: str, timeframe: str = "1m", limit: int = 100,
                  request_id: str | None = None) -> pd.DataFrame:
        self.calls.append((symbol, timeframe, limit))
        if symbol not in self.frames:
            raise UnknownSymbol(f"no recording for symbol {symbol!r}")
        frame = self.frames[symbol]
        now_ms = int(np.floor(self.clock.now() * 1000))
        ts = frame["timestamp"].to_numpy()
        visible = ts <= now_ms if self.leaky else ts + timeframe_ms(timeframe) <= now_ms
        return frame[visible].tail(limit).reset_index(drop=True)


def _ohlcv(frame: pd.DataFrame, ts: pd.Series) -> pd.DataFrame:
    out = pd.DataFrame({"timestamp": ts.astype("int64").to_numpy()})
    for col in ("open", "high", "low", "close", "volume"):
        out[col] = frame[col].to_numpy(dtype=np.float64)
    return out


@pytest.fixture(scope="session")
def sp500() -> pd.DataFrame:
    """arch's bundled S&P 500 daily OHLCV as a ccxt-shaped frame (timestamp ms UTC)."""
    import arch.data.sp500

    raw = arch.data.sp500.load().rename(columns=str.lower)
    ts = pd.Series(pd.DatetimeIndex(raw.index).tz_localize("UTC").as_unit("ms").asi8)
    return _ohlcv(raw, ts)


@pytest.fixture(scope="session")
def btc() -> pd.DataFrame:
    """The shared BTC perpetual 1-minute recording (skips when absent)."""
    raw = pd.read_csv(shared_or_skip(BTC_1M))
    ts = pd.Series(pd.to_datetime(raw["timestamp"], utc=True).dt.as_unit("ms").astype("int64"))
    return _ohlcv(raw, ts)
