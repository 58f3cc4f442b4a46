"""The manager's own access sequence, captured, reads back in libCacheSim request for request."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from supreme.cache import CacheManager, LocalTier, MemoryTier
from supreme.cache.capture import AccessCapture, key_id
from supreme.cache.trace import load_trace
from supreme.clock import ManualClock
from supreme.replay.runner import replay_files
from tests.replay.conftest import walk_frame, write_csv


def test_gets_and_sets_become_requests_with_sizes_and_next_access(tmp_path: Path) -> None:
    clock = ManualClock(1000.0)
    m = CacheManager(MemoryTier("lru", clock=clock, capacity=10), LocalTier(clock), clock=clock)
    cap = m.capture = AccessCapture()
    m.set("a", b"x" * 100)
    clock.advance(1.5)
    assert m.get("a") == b"x" * 100
    m.get("missing")
    m.get("a")
    trace = cap.to_trace()
    assert len(trace) == 4
    assert list(trace.obj_id) == [key_id("a"), key_id("a"), key_id("missing"), key_id("a")]
    assert list(trace.time) == [1000, 1001, 1001, 1001]
    assert trace.obj_size[0] > 100 and trace.obj_size[1] == trace.obj_size[0] and trace.obj_size[2] == 1
    assert list(trace.next_access()) == [1, 3, -1, -1]
    path = cap.save(tmp_path / "t.oracleGeneral.bin")
    back = load_trace(path)
    assert np.array_equal(back.obj_id.astype(np.uint64), trace.obj_id) and len(back) == 4


def test_limit_is_checked_and_bounds_the_capture() -> None:
    with pytest.raises(ValueError, match="limit"):
        AccessCapture(limit=0)
    cap = AccessCapture(limit=2)
    for i in range(5):
        cap.record(f"k{i}", float(i))
    assert len(cap) == 2


def test_a_replay_trace_reads_back_in_libcachesim(tmp_path: Path) -> None:
    import libcachesim as lcs
    path = write_csv(walk_frame(3000, seed=21), tmp_path / "AAA.csv")
    run = replay_files([path], tmp_path / "out", trace=tmp_path / "replay.oracleGeneral.bin", figure=False)
    mine = load_trace(run.outputs["trace"])
    reader = lcs.TraceReader(str(run.outputs["trace"]), lcs.TraceType.ORACLE_GENERAL_TRACE)
    assert reader.get_num_of_req() == len(mine) > 0
    assert len(mine) == 3 * (-(-3000 // 1024))  # per step: the candles, the signals, the position


def test_the_signal_api_path_captures_reads_and_writes(tmp_path: Path) -> None:
    """The live signal path (SignalPipeline on the real CacheManager, driven by the SimPy model): its
    trace holds the gets (hits among them) beside the sets, and libCacheSim reads it request for request."""
    import libcachesim as lcs
    import numpy as np

    from sim.models import trading_signal as ts
    from sim.scenario import make_scenario
    from supreme.cache.capture import AccessCapture

    sc = make_scenario(ts.DEFAULTS, {"requests": 300, "seed": 0, "symbols": "SPX,IXIC",
                                     "ratelimit.rate": 1e6, "ratelimit.burst": 100_000})
    ctx, svc = ts.build(sc)
    capture = svc.cache.capture = AccessCapture()
    ctx.env.process(ts.clients(ctx, svc, sc))
    ctx.env.run()
    trace = capture.to_trace()
    keys = len(np.unique(trace.obj_id))
    # a signal get per request, plus the engine's writes of the few signals it computed
    assert 300 < len(trace) < 300 + 2 * keys + 1
    # keys are read again and again (the default workload's 1m candles re-key a symbol each minute)
    assert keys < len(trace) / 3
    path = capture.save(tmp_path / "api.oracleGeneral.bin")
    reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE)
    assert reader.get_num_of_req() == len(trace)
