"""The service trace: the real signal pipeline's cache accesses, read back by libCacheSim."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lab.service_trace import capture_service_trace, service_markets
from supreme.cache.capture import AccessCapture
from supreme.cache.trace import save_trace
from tests.conftest import shared_or_skip


def test_service_trace_reads_back_in_libcachesim_and_is_deterministic(tmp_path: Path) -> None:
    """Request count read back equals the captured count; same seed, same trace; many keys, reuse and
    one-hit wonders; sizes are the stored bytes (no 1-byte misses)."""
    import libcachesim as lcs

    shared_or_skip("nautilus/btc-perp-20211231-20220201_1m.csv")
    st = capture_service_trace(3000, seed=3)
    again = capture_service_trace(3000, seed=3)
    other = capture_service_trace(3000, seed=4)
    assert np.array_equal(st.trace.obj_id, again.trace.obj_id)
    assert np.array_equal(st.trace.obj_size, again.trace.obj_size)
    assert not np.array_equal(st.trace.obj_id[:500], other.trace.obj_id[:500])
    # one signal get per request, plus a candle-window get per signal computed
    computed = int(st.markets["signals computed"].sum())
    assert len(st.trace) == 3000 + computed
    assert st.markets["requests"].sum() == 3000
    assert st.distinct_keys == 2 * computed > 200
    assert 0.3 < st.one_hit_share < 0.9  # candle windows are read once; hot signals many times
    assert st.trace.obj_size.min() > 100  # every request has its encoded entry's size
    assert len(st.markets) >= 10 and st.markets["timeframe"].nunique() >= 3
    path = save_trace(st.trace, tmp_path / "service.oracleGeneral.bin", "oraclegeneral")
    reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE)
    assert reader.get_num_of_req() == len(st.trace)


def test_service_trace_falls_back_to_the_bundled_samples(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    """Without ../shared the bundled daily samples are served through the same pipeline."""
    monkeypatch.setenv("SUPREME_SHARED_DATA", str(tmp_path / "nowhere"))
    markets, note = service_markets()
    assert [m.symbol for m in markets] == ["SPX", "IXIC"] and "bundled" in note
    st = capture_service_trace(200, seed=0, rate=1 / 86_400)  # about a request per trading day
    assert len(st.trace) > 200 and st.distinct_keys > 10


def test_bad_parameters_are_refused() -> None:
    """No requests, or a market too short for its warm-up, is a clear error."""
    with pytest.raises(ValueError, match="n must be"):
        capture_service_trace(0)
    markets, _ = service_markets()
    with pytest.raises(ValueError, match="warmup"):
        capture_service_trace(10, markets=markets[:1], warmup=10**7)


def test_a_get_before_its_size_is_known_takes_the_stored_size() -> None:
    """The miss a get records is back-filled with the size the fill learns; unknown stays 1 byte."""
    cap = AccessCapture()
    cap.record("a", 0.0)
    cap.record("b", 1.0)
    cap.sized("a", 500)
    cap.record("a", 2.0)
    cap.sized("b")  # nothing known: no change
    assert cap.to_trace().obj_size.tolist() == [500, 1, 500]


def test_the_service_trace_as_a_workload_and_a_sweep_cell() -> None:
    """The adaptive layer and the sweep read the same requests; a sweep cell reproduces from its row."""
    from lab import sweeps
    from lab.service_trace import as_workload

    st = capture_service_trace(400, seed=1)
    w = as_workload(st)
    assert len(w.keys) == len(w.times) == len(st.trace)
    assert len(set(w.keys)) == st.distinct_keys
    cell = {"workload.name": sweeps.SERVICE, "workload.n": 400, "seed": 1, "cache.policy": "lru",
            "cache.size": 8, "prefetch.threshold": 1.0}
    first = sweeps.run_one(cell)
    sweeps._workload.cache_clear()
    again = sweeps.run_one(cell)
    assert (again["miss_ratio"], again["fetch_ratio"]) == (first["miss_ratio"], first["fetch_ratio"])
    assert 0.0 < first["miss_ratio"] < 1.0
