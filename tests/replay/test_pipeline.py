"""The pipeline replay gives the per-request engine's signals, and L2/L3 hold every block it wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fakeredis
import numpy as np
import pandas as pd
import pytest

from supreme.builders import build_hierarchy
from supreme.cache.codec import decode_entry
from supreme.clock import ManualClock
from supreme.events import EventLog
from supreme.market.feed import MarketDataFeed
from supreme.market.loaders import load_ohlcv
from supreme.market.replay import ReplayConnector
from supreme.replay.pipeline import PipelineSettings, ReplayPipeline
from supreme.replay.sources import Stream
from supreme.strategy.engine import InsufficientData, StrategyEngine
from supreme.strategy.rules import RuleConfig
from tests.conftest import shared_or_skip
from tests.replay.conftest import walk_frame


def engine_signals(frames: dict[str, pd.DataFrame], rules: RuleConfig | None = None,
                   every: int = 1) -> pd.DataFrame:
    """Today's per-request engine, asked at every ``every``-th candle close of every symbol."""
    rows = []
    for symbol, frame in frames.items():
        clock = ManualClock(0.0)
        feed = MarketDataFeed(ReplayConnector({symbol: frame}, clock, "1m"), clock)
        engine = StrategyEngine(feed, clock, rules)
        for ts in frame["timestamp"].to_numpy()[::every]:
            clock.set((int(ts) + 60_000) / 1000.0)
            try:
                s = engine.generate(symbol, "1m")
            except InsufficientData:
                continue
            rows.append({"symbol": symbol, "as_of": s.as_of, "action": s.action.value,
                         "confidence": s.confidence, **s.indicators})
    return pd.DataFrame(rows)


def run_pipeline(frames: dict[str, pd.DataFrame], redis: Any, db_url: str, *, block: int = 1024,
                 rules: RuleConfig | None = None, namespace: str = "t:", **kw: Any) -> tuple[Any, Any]:
    clock = ManualClock(0.0)
    log = EventLog(world="real")
    cache, breakers = build_hierarchy(clock, redis, db_url, event_log=log, default_ttl=None,
                                      namespace=namespace)
    streams = [Stream(sym, "1m", f, (f"{sym}.csv",)) for sym, f in frames.items()]
    p = ReplayPipeline(streams, cache, clock, rules=rules, event_log=log, breakers=breakers,
                       settings=PipelineSettings(block_candles=block, **kw))
    return p, p.run()


def assert_same_signals(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = got.sort_values(["symbol", "as_of"]).reset_index(drop=True)
    want = want.sort_values(["symbol", "as_of"]).reset_index(drop=True)
    assert len(got) == len(want)
    assert (got["as_of"].to_numpy() == want["as_of"].to_numpy()).all()
    assert (got["action"].to_numpy() == want["action"].to_numpy()).all()
    assert (got["confidence"].to_numpy() == want["confidence"].to_numpy()).all()  # bit-identical
    for col in ("rsi", "macd_hist", "ema_fast", "bb_bandwidth", "atr_pct", "vwap"):
        g, w = got[col].to_numpy(), want[col].to_numpy()
        assert np.array_equal(g, w, equal_nan=True), col


@pytest.mark.parametrize("block", [1, 7, 1024])
def test_signals_equal_the_per_request_engine(block: int, tmp_path: Path) -> None:
    frames = {"AAA": walk_frame(700, seed=1),
              "BBB": walk_frame(650, seed=2, start_ms=1_640_995_200_000 + 90 * 60_000)}
    _, result = run_pipeline(frames, fakeredis.FakeRedis(), f"sqlite:///{tmp_path}/l3.db", block=block)
    assert result.candles == 1350
    assert_same_signals(result.signals, engine_signals(frames))
    assert set(result.signals["action"]) == {"BUY", "SELL", "HOLD"}


def test_rule_settings_change_signals_and_keys(tmp_path: Path) -> None:
    frames = {"AAA": walk_frame(500, seed=4)}
    rules = RuleConfig(history=60, threshold=0.6)
    p, result = run_pipeline(frames, fakeredis.FakeRedis(), f"sqlite:///{tmp_path}/l3.db", rules=rules)
    assert_same_signals(result.signals, engine_signals(frames, rules))
    default = run_pipeline(frames, fakeredis.FakeRedis(), f"sqlite:///{tmp_path}/l3b.db")[0]
    assert p._digest != default._digest


def _blocks(tier: Any, prefix: str, keys: list[str]) -> np.ndarray:
    parts = []
    for key in keys:
        blob = tier.peek(key)
        assert blob is not None, f"{tier.name} lacks {key}"
        parts.append(decode_entry(blob)[0])
    return np.concatenate(parts)


def test_every_block_is_in_l2_and_l3_on_each_backend(redis_client: Any, database_url: str,
                                                     namespace: str) -> None:
    frame = walk_frame(3000, seed=5)
    p, result = run_pipeline({"AAA": frame}, redis_client, database_url, block=256, namespace=namespace)
    _, l2, l3 = p.cache.tiers
    firsts = frame["timestamp"].to_numpy()[::256]  # contiguous candles: block k starts at row 256 k
    candle_keys = [f"candles:replay:AAA:1m:{t}" for t in firsts]
    for tier in (l2, l3):
        rows = _blocks(tier, "candles:", candle_keys)
        assert np.array_equal(rows[:, 0].astype(np.int64), frame["timestamp"].to_numpy())
        assert np.array_equal(rows[:, 4], frame["close"].to_numpy())
    signal_keys = [f"signals:replay:AAA:1m:{p._digest}:{t}" for t in firsts]
    sig = _blocks(l3, "signals:", signal_keys)
    assert np.array_equal(sig[:, 1].astype(np.int64), result.signals["as_of"].to_numpy())
    position = p.position()
    assert position == {"symbols": {"AAA": int(frame["timestamp"].iloc[-1])}, "candles": 3000,
                        "signals": len(result.signals)}
    assert result.breakers == {"L2": "closed", "L3": "closed"}
    p.cache.close()


def test_a_dead_redis_degrades_to_l3_and_loses_nothing(tmp_path: Path) -> None:
    import redis

    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_timeout=0.2, socket_connect_timeout=0.2)
    frame = walk_frame(2000, seed=6)
    p, result = run_pipeline({"AAA": frame}, dead, f"sqlite:///{tmp_path}/l3.db", block=128, batch_size=3)
    assert_same_signals(result.signals, engine_signals({"AAA": frame}, every=1))
    assert result.queue_stats["batches"] == 16  # one per step: each a breaker-guarded call per tier
    assert result.breakers["L2"] != "closed" and result.breakers["L3"] == "closed"
    assert p.cache.pending()["L2"] > 0  # journaled for when Redis returns, not dropped
    stats = p.cache.stats()
    assert stats.loc["L3", "sets"] == 3 * (-(-2000 // 128))
    l3 = p.cache.tiers[2]
    assert decode_entry(l3.peek(p.position_key))[0]["candles"] == 2000


@pytest.mark.slow
def test_whole_btc_perp_file_equals_the_engine(tmp_path: Path) -> None:
    frame = load_ohlcv(shared_or_skip("nautilus/btc-perp-20211231-20220201_1m.csv"))
    _, result = run_pipeline({"BTC-PERP": frame}, fakeredis.FakeRedis(), f"sqlite:///{tmp_path}/l3.db")
    assert result.candles == 45_031
    assert_same_signals(result.signals, engine_signals({"BTC-PERP": frame}))
