"""FaultyConnector: seeded determinism, latency on the clock, disconnect windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from supreme.clock import ManualClock
from supreme.events import EventLog
from supreme.market import ExchangeUnavailable, FaultyConnector, InjectedFault, ReplayConnector


def inner(clock: ManualClock) -> ReplayConnector:
    ts = np.arange(100, dtype=np.int64) * 60_000
    frame = pd.DataFrame({"timestamp": ts, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0})
    return ReplayConnector({"X": frame}, clock, "1m")


def outcomes(seed: int, calls: int = 200) -> list[str]:
    clock = ManualClock(3600.0)
    faulty = FaultyConnector(inner(clock), clock, seed, error_rate=0.3)
    seq = []
    for _ in range(calls):
        try:
            faulty.fetch_ohlcv("X", limit=1)
            seq.append("ok")
        except InjectedFault:
            seq.append("err")
    return seq


def test_same_seed_same_faults() -> None:
    a, b, c = outcomes(7), outcomes(7), outcomes(8)
    assert a == b
    assert a != c
    assert 0.15 < a.count("err") / len(a) < 0.45


def test_latency_advances_clock_and_disconnect_window() -> None:
    clock = ManualClock(1000.0)
    log = EventLog(run_id="t")
    faulty = FaultyConnector(
        inner(clock), clock, 1, latency=0.25, disconnect_windows=[(1001.0, 1002.0)], event_log=log
    )
    faulty.fetch_ticker("X")
    assert clock.now() == pytest.approx(1000.25)
    clock.set(1001.5)
    with pytest.raises(ExchangeUnavailable, match="disconnected"):
        faulty.fetch_trades("X")
    clock.set(1002.0)
    faulty.fetch_ohlcv("X")
    assert [f[2] for f in faulty.faults] == ["disconnect"]
    frame = log.to_frame()
    assert frame["component"].tolist() == ["Chaos_Engine"] and frame["flow"].iloc[0] == "fault_injection"


def test_bad_parameters() -> None:
    clock = ManualClock()
    with pytest.raises(ValueError):
        FaultyConnector(inner(clock), clock, 0, error_rate=1.5)
    with pytest.raises(ValueError):
        FaultyConnector(inner(clock), clock, 0, disconnect_windows=[(5, 1)])
