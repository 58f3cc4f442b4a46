"""A Redis outage during a pipeline replay: breaker opens, ErrorRecovery brings L2 back, nothing is lost."""

from __future__ import annotations

from typing import Any

import numpy as np

from supreme.replay.outage import replay_with_faults
from supreme.replay.pipeline import PipelineSettings
from supreme.replay.sources import Stream
from tests.replay.conftest import walk_frame
from tests.replay.test_pipeline import assert_same_signals, engine_signals


def test_redis_outage_mid_replay_recovers_and_loses_nothing(real_redis: Any, database_url: str,
                                                             namespace: str) -> None:
    frame = walk_frame(6000, seed=31)
    streams = [Stream("AAA", "1m", frame, ("AAA.csv",))]
    # L2 down from minute 1,000 to minute 3,000 of the replay (market time)
    faults = {"faults.redis.down_at": 1000 * 60.0, "faults.redis.down_for": 2000 * 60.0}
    run = replay_with_faults(streams, faults, redis_url="redis://127.0.0.1:6379/0", database_url=database_url,
                             namespace=namespace, settings=PipelineSettings(block_candles=100, batch_size=3))
    s = run.summary
    assert s["candles"] == 6000 and s["lost"] == 0 and s["l3_entries"] == 2 * 60 + 1
    assert_same_signals(run.result.signals, engine_signals({"AAA": frame}))  # every signal served
    tl = run.timeline[run.timeline["breaker"] == "L2"]
    assert list(tl["to"])[:2] == ["open", "half_open"] and tl["to"].iloc[-1] == "closed"
    opened = tl[tl["to"] == "open"]["market_s"].iloc[0]
    closed = tl[tl["to"] == "closed"]["market_s"].iloc[-1]
    assert 1000 * 60 <= opened < 3000 * 60 <= closed <= 3200 * 60  # closed within two steps of the return
    assert s["recoveries"] >= 1 and s["failed_recoveries"] >= 1  # tried during the outage, worked after
    events = run.event_log.to_frame()
    chaos = events[events["component"] == "Chaos_Engine"]
    assert list(chaos["operation"]) == ["inject", "restore"]
    steps = events.loc[events["component"] == "Error_Recovery", "operation"]
    assert np.isin(["recover", "reconnect", "escalate"], steps).all()
