"""Replay throughput on the FTX BTC-PERP 1m month: the signal pipeline vs backtrader, in one run.

Rows printed (candles/s, best of three, and the ratio to backtrader's event mode):

* ``pipeline embedded``: ``supreme replay --pipeline``'s path -- ReplayConnector -> MarketDataFeed
  windows -> CacheManager (L1 memory, L2 fakeredis, L3 SQLite file) with write-behind batches under the
  L2/L3 breakers -> signal blocks -- one signal per closed candle;
* ``pipeline real``: the same with L2 on the real Redis and L3 on the real PostgreSQL
  (``SUPREME_BENCH_REDIS_URL`` / ``SUPREME_BENCH_DATABASE_URL``, default the local servers);
* ``per-request path``: today's service path (``feed.get_ohlcv`` through the cache, then
  ``StrategyEngine.generate``) on the first 3,000 candles, for the speed-up;
* ``backtrader event`` / ``backtrader runonce``: backtrader 1.9 on the same candles with the same
  indicators (EMA 12/26, RSI 14, MACD 12/26/9, Bollinger 20/2, ATR 14) and a strategy that reads
  them at every bar;
* ``itertuples``: a bare Python loop over the frame, the floor of per-candle Python work.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from supreme.builders import build_hierarchy, redis_client
from supreme.clock import ManualClock
from supreme.events import EventLog
from supreme.market.feed import MarketDataFeed
from supreme.market.loaders import load_ohlcv
from supreme.market.replay import ReplayConnector
from supreme.paths import shared_data
from supreme.replay.pipeline import ReplayPipeline
from supreme.replay.sources import Stream
from supreme.strategy.engine import InsufficientData, StrategyEngine

PATH = "nautilus/btc-perp-20211231-20220201_1m.csv"
REDIS = os.environ.get("SUPREME_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES = os.environ.get("SUPREME_BENCH_DATABASE_URL", "postgresql://127.0.0.1:5432/test")


def best(fn: Callable[[], float], runs: int = 3) -> float:
    """The shortest of ``runs`` timings (seconds)."""
    return min(fn() for _ in range(runs))


def pipeline(frame: pd.DataFrame, redis_url: str | None, db_url: str, log_events: bool = True) -> float:
    clock = ManualClock(0.0)
    log = EventLog(world="real", enabled=log_events)
    redis = redis_client(redis_url)
    cache, breakers = build_hierarchy(clock, redis, db_url, event_log=log, default_ttl=None,
                                      namespace=f"bench-{uuid.uuid4().hex[:8]}:")
    p = ReplayPipeline([Stream("BTC-PERP", "1m", frame, (PATH,))], cache, clock, event_log=log,
                       breakers=breakers)
    result = p.run()
    assert result.candles == len(frame) and set(result.breakers.values()) == {"closed"}, result.summary()
    cache.close()
    return result.elapsed


def per_request(frame: pd.DataFrame, db_url: str) -> float:
    clock = ManualClock(0.0)
    cache, _ = build_hierarchy(clock, redis_client(None), db_url, default_ttl=None)
    feed = MarketDataFeed(ReplayConnector({"BTC-PERP": frame}, clock, "1m"), clock, cache=cache)
    engine = StrategyEngine(feed, clock)
    engine.warm_up()
    t0 = time.perf_counter()
    for ts in frame["timestamp"].to_numpy():
        clock.set((int(ts) + 60_000) / 1000.0)
        with contextlib.suppress(InsufficientData):
            engine.generate("BTC-PERP", "1m")
    cache.close()
    return time.perf_counter() - t0


def backtrader_run(frame: pd.DataFrame, runonce: bool) -> float:
    import backtrader as bt

    class Indicators(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            self.ema_fast = bt.ind.EMA(period=12)
            self.ema_slow = bt.ind.EMA(period=26)
            self.rsi = bt.ind.RSI(period=14)
            self.macd = bt.ind.MACD(period_me1=12, period_me2=26, period_signal=9)
            self.bb = bt.ind.BollingerBands(period=20, devfactor=2.0)
            self.atr = bt.ind.ATR(period=14)
            self.votes = 0

        def next(self) -> None:  # read every indicator at every bar, as a signal would
            up = self.ema_fast[0] > self.ema_slow[0]
            hist = self.macd.macd[0] - self.macd.signal[0]
            self.votes += int(up) + int(hist > 0) + int(self.rsi[0] < 30) - int(self.rsi[0] > 70) \
                + int(self.atr[0] > 0) + int(self.bb.top[0] > self.bb.bot[0])

    data = frame.assign(datetime=pd.to_datetime(frame["timestamp"], unit="ms")).set_index("datetime")
    cerebro = bt.Cerebro(runonce=runonce, preload=True, stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=data[["open", "high", "low", "close", "volume"]]))
    cerebro.addstrategy(Indicators)
    t0 = time.perf_counter()
    cerebro.run()
    return time.perf_counter() - t0


def itertuples(frame: pd.DataFrame) -> float:
    t0 = time.perf_counter()
    total = 0.0
    for row in frame.itertuples(index=False):
        total += float(row.close)  # type: ignore[arg-type]
    return time.perf_counter() - t0


def _reachable() -> str | None:
    try:
        import psycopg
        import redis

        redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping()
        psycopg.connect(POSTGRES, connect_timeout=2).close()
    except Exception as exc:  # the row is skipped with the reason, the rest still runs
        return f"{type(exc).__name__}: {exc}"
    return None


def main() -> None:
    frame = load_ohlcv(shared_data(PATH))
    n = len(frame)
    print(f"{PATH}: {n} candles, one signal per closed candle\n")
    rows: list[tuple[str, float, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(100))

        def sqlite() -> str:
            return f"sqlite:///{Path(tmp) / f'l3_{next(counter)}.sqlite'}"

        embedded = best(lambda: pipeline(frame, None, sqlite()))
        rows.append(("pipeline embedded (fakeredis + SQLite)", embedded, n))
        quiet = best(lambda: pipeline(frame, None, sqlite(), False))
        rows.append(("pipeline embedded, event log off", quiet, n))
        why = _reachable()
        if why is None:
            real = best(lambda: pipeline(frame, REDIS, POSTGRES))
            rows.append(("pipeline real (Redis + PostgreSQL)", real, n))
        else:
            print(f"pipeline real: skipped, servers unreachable ({why})")
        head = frame.iloc[:3000].reset_index(drop=True)
        rows.append(("per-request path (3,000 candles)", best(lambda: per_request(head, sqlite()), 1), 3000))
    rows.append(("backtrader event mode", best(lambda: backtrader_run(frame, False)), n))
    rows.append(("backtrader runonce mode", best(lambda: backtrader_run(frame, True)), n))
    rows.append(("itertuples (bare loop)", best(lambda: itertuples(frame)), n))
    bt_event = next(n_ / s for name, s, n_ in rows if name == "backtrader event mode")
    table = pd.DataFrame([(name, n_ / s, n_ / s / bt_event) for name, s, n_ in rows],
                         columns=["path", "candles/s", "x backtrader event"])
    with pd.option_context("display.float_format", "{:,.2f}".format, "display.width", 120):
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
