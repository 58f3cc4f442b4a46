"""MarketDataFeed: as-of queries through a cache, subscriptions in order, failing-subscriber isolation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from supreme.clock import ManualClock
from supreme.events import EventLog
from supreme.market import FaultyConnector, MarketDataFeed, ReplayConnector

TF = 60_000
START = 1_700_000_040_000  # on the 1m grid


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    ts = START + np.arange(10, dtype=np.int64) * TF
    candles = pd.DataFrame(
        {"timestamp": ts, "open": 1.0, "high": 2.0, "low": 0.5, "close": np.arange(10) + 1.0, "volume": 1.0}
    )
    tts = START + np.array([10_000, 70_000, 70_000, 125_000, 200_000], dtype=np.int64)
    trades = pd.DataFrame(
        {
            "timestamp": tts,
            "price": [1.0, 2, 3, 4, 5],
            "amount": 1.0,
            "side": ["buy", "sell", "buy", "buy", "sell"],
            "id": ["a", "b", "c", "d", "e"],
        }
    )
    return candles, trades


def make(clock: ManualClock, **kw: Any) -> MarketDataFeed:
    candles, trades = frames()
    conn = ReplayConnector({"X": candles}, clock, "1m", trades={"X": trades})
    return MarketDataFeed(conn, clock, **kw)


class DictCache:
    """A real (tiny) cache with the feed's CacheLike contract (labels ignored)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.misses = 0

    def get(self, key: str, loader: Callable[[], Any], *, request_id: str | None = None,
            flow: str | None = None) -> Any:
        if key not in self.data:
            self.misses += 1
            self.data[key] = loader()
        return self.data[key]


def test_get_ohlcv_as_of_now_and_cache_key_never_stale() -> None:
    clock = ManualClock(START / 1000)
    cache, log = DictCache(), EventLog(run_id="t")
    feed = make(clock, cache=cache, event_log=log)
    assert feed.get_ohlcv("X", "1m", limit=5).empty
    clock.set((START + 3 * TF) / 1000)
    a = feed.get_ohlcv("X", "1m", limit=5)
    assert a["timestamp"].tolist() == [START, START + TF, START + 2 * TF]
    clock.advance(30)  # no new candle closed: same key, served from cache
    b = feed.get_ohlcv("X", "1m", limit=5)
    assert cache.misses == 2 and b is a
    clock.advance(30)  # a candle closed: new key
    c = feed.get_ohlcv("X", "1m", limit=2)
    assert c["timestamp"].tolist() == [START + 2 * TF, START + 3 * TF] and cache.misses == 3
    assert any(k.endswith(f":{START + 3 * TF}") for k in cache.data)
    events = log.to_frame()
    assert set(events["component"]) == {"Market_Data_Feed", "Exchange_Connector"}
    assert (events["flow"] == "trading_signal").all()
    assert events.loc[events["operation"] == "return", "outcome"].tolist() == ["miss", "miss", "hit", "miss"]


def test_subscriptions_in_timestamp_order_and_only_new() -> None:
    clock = ManualClock((START + 30_000) / 1000)
    feed = make(clock)
    got: list[dict[str, Any]] = []
    feed.subscribe("X", "candles", got.append)
    feed.subscribe("X", "trades", got.append)
    assert feed.poll() == 0
    clock.set((START + 3 * TF) / 1000)
    n = feed.poll()
    stamps = [u["timestamp"] for u in got]
    assert n == len(got) == 3 + 3  # candles closing at +1,+2,+3 min; trades at +70 s (two) and +125 s
    assert stamps == sorted(stamps)
    assert [u["channel"] for u in got][:3] == ["candles", "trades", "trades"]
    assert all(u["timestamp"] <= START + 3 * TF for u in got)
    assert {u["data"]["id"] for u in got if u["channel"] == "trades"} == {
        "b",
        "c",
        "d",
    }  # "a" predates the subscription
    got.clear()
    assert feed.poll() == 0 and got == []  # nothing twice


def test_failing_subscriber_does_not_stop_others() -> None:
    clock = ManualClock(START / 1000)
    feed = make(clock)
    good: list[int] = []

    def bad(update: dict[str, Any]) -> None:
        raise RuntimeError("subscriber bug")

    s_bad = feed.subscribe("X", "candles", bad)
    feed.subscribe("X", "candles", lambda u: good.append(u["timestamp"]))
    total = feed.run(until=(START + 5 * TF) / 1000, step=60)
    assert total == 5 and len(good) == 5
    assert feed.callback_errors == 5 and s_bad.failures == 5
    feed.unsubscribe(s_bad)
    feed.run(until=(START + 6 * TF) / 1000, step=60)
    assert feed.callback_errors == 5 and len(good) == 6


def test_ticker_channel_and_unsubscribe() -> None:
    clock = ManualClock((START + TF) / 1000)
    feed = make(clock)
    ticks: list[dict[str, Any]] = []
    sub = feed.subscribe("X", "ticker", ticks.append)
    feed.poll()
    feed.poll()
    assert len(ticks) == 1 and ticks[0]["data"]["last"] == 1.0
    feed.unsubscribe(sub)
    clock.advance(120)
    assert feed.poll() == 0 and feed.subscriptions == []
    with pytest.raises(ValueError, match="channel"):
        feed.subscribe("X", "orderbook", ticks.append)


def test_faults_lose_nothing() -> None:
    """Under seeded random errors every candle is still delivered once, in order."""
    candles, _ = frames()
    clock = ManualClock(START / 1000)
    conn = FaultyConnector(ReplayConnector({"X": candles}, clock, "1m"), clock, seed=3, error_rate=0.4)
    feed = MarketDataFeed(conn, clock)
    got: list[int] = []
    feed.subscribe("X", "candles", lambda u: got.append(u["data"][0]))
    feed.run(until=(START + 10 * TF) / 1000, step=60)
    for _ in range(50):
        feed.poll()
    assert feed.fetch_errors > 0
    assert got == candles["timestamp"].tolist()


class KeywordCache(DictCache):
    """A DictCache with the full CacheLike contract: records what each get was labelled with."""

    def __init__(self) -> None:
        super().__init__()
        self.labels: list[tuple[str | None, str | None]] = []

    def get(self, key: str, loader: Callable[[], Any], *, request_id: str | None = None,
            flow: str | None = None) -> Any:
        self.labels.append((request_id, flow))
        return super().get(key, loader)


def test_request_id_and_flow_reach_the_cache() -> None:
    clock = ManualClock(START / 1000 + 3 * 60)
    cache = KeywordCache()
    feed = make(clock, cache=cache)
    feed.get_ohlcv("X", "1m", 2, request_id="req-7")
    feed.get_ohlcv("X", "1m", 2, request_id="req-8", flow="request_pipeline")
    assert cache.labels == [("req-7", "trading_signal"), ("req-8", "request_pipeline")]
    with pytest.raises(ValueError, match="unknown flow"):
        feed.get_ohlcv("X", flow="no_such_flow")


def test_one_request_followed_through_a_real_cache_manager() -> None:
    from supreme.cache import CacheManager, MemoryTier
    from supreme.cache.policies.lru import LRU

    clock = ManualClock(START / 1000 + 3 * 60)
    log = EventLog(run_id="t")
    cache = CacheManager(MemoryTier(LRU(16), clock=clock), clock=clock, event_log=log)
    feed = make(clock, cache=cache, event_log=log)
    feed.get_ohlcv("X", "1m", 2, request_id="req-A")
    feed.get_ohlcv("X", "1m", 2, request_id="req-B")
    frame = log.to_frame()
    a, b = frame[frame["request_id"] == "req-A"], frame[frame["request_id"] == "req-B"]
    # the miss: feed, cache manager and connector all carry the request's id and flow
    assert {"Market_Data_Feed", "Cache_Manager", "Exchange_Connector"} <= set(a["component"])
    assert set(a["flow"]) == {"trading_signal"}
    # the hit: answered by the cache, still labelled with the second request's id
    assert "Cache_Manager" in set(b["component"]) and "Exchange_Connector" not in set(b["component"])
    assert frame["request_id"].notna().all()
