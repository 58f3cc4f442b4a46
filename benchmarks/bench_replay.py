"""Replay throughput of the feed over the FTX BTC-PERP 1m month vs iterating the frame with itertuples.

Both loops visit every candle once and touch its close; the feed adds the as-of lookup
(searchsorted), the ccxt-shaped rows, the subscription cursor and the callback.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from supreme.clock import ManualClock
from supreme.market.feed import MarketDataFeed
from supreme.market.loaders import load_ohlcv
from supreme.market.replay import ReplayConnector
from supreme.paths import shared_data

PATH = "nautilus/btc-perp-20211231-20220201_1m.csv"


def baseline(frame: pd.DataFrame) -> float:
    t0 = time.perf_counter()
    total = 0.0
    for row in frame.itertuples(index=False):
        total += float(row.close)  # type: ignore[arg-type]
    return time.perf_counter() - t0


def through_feed(frame: pd.DataFrame, step_candles: int) -> tuple[float, int]:
    clock = ManualClock(int(frame["timestamp"].iloc[0]) / 1000)
    feed = MarketDataFeed(ReplayConnector({"BTC-PERP": frame}, clock, "1m"), clock)
    seen = [0.0]

    def on_candle(update: dict[str, Any]) -> None:
        seen[0] += update["data"][4]

    feed.subscribe("BTC-PERP", "candles", on_candle)
    until = int(frame["timestamp"].iloc[-1]) / 1000 + 60
    t0 = time.perf_counter()
    published = feed.run(until, 60.0 * step_candles)
    return time.perf_counter() - t0, published


def main() -> None:
    t0 = time.perf_counter()
    frame = load_ohlcv(shared_data(PATH))
    load_s = time.perf_counter() - t0
    n = len(frame)
    print(f"{PATH}: {n} rows loaded and validated in {load_s:.3f} s ({n / load_s:,.0f} rows/s)")
    base = min(baseline(frame) for _ in range(3))
    print(f"baseline itertuples:            {n / base:12,.0f} rows/s")
    for step in (1, 60, 1000):
        elapsed, published = min(through_feed(frame, step) for _ in range(3))
        assert published == n, (published, n)
        print(
            f"feed replay, poll every {step:4d} candles: {n / elapsed:12,.0f} rows/s   "
            f"ratio to baseline {base / elapsed:6.3f}"
        )


if __name__ == "__main__":
    main()
