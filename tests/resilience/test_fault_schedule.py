"""The one fault vocabulary: scenario keys, windows, asking and driving a schedule (no servers)."""

from __future__ import annotations

import math

import pytest

from supreme.clock import ManualClock
from supreme.events import EventLog
from supreme.resilience.fault_schedule import FAULT_FIELDS, FaultError, FaultSchedule, FaultWindow


def test_scenario_keys_give_windows_of_every_kind() -> None:
    fs = FaultSchedule.from_scenario({
        "faults.pg.slow_at": 5, "faults.pg.slow_for": 20, "faults.pg.slow_factor": 4,
        "faults.pg.slow_latency": 0.2, "faults.pg.error_at": 0, "faults.pg.error_rate": 0.1,
        "faults.redis.down_at": 30, "faults.redis.down_for": 10, "other": 1,
    }, offset=100.0)
    assert fs.windows == [
        FaultWindow("pg", 105.0, 20.0, "slow", factor=4.0, rate=0.1, latency=0.2),
        FaultWindow("pg", 100.0, math.inf, "error", factor=4.0, rate=0.1, latency=0.2),
        FaultWindow("redis", 130.0, 10.0),
    ]
    assert fs.windows[2].end == 140.0 and fs.windows[1].end == math.inf
    assert set(FAULT_FIELDS) == {f"{k}_{f}" for k in ("down", "slow", "error") for f in ("at", "for")} | {
        "slow_factor", "slow_latency", "error_rate"}


def test_a_field_without_its_start_is_an_error_and_a_none_start_switches_off() -> None:
    for key in ("faults.redis.down_for", "faults.db.slow_factor", "faults.db.error_rate"):
        with pytest.raises(FaultError, match=r"needs faults\.\w+\.(down|slow|error)_at"):
            FaultSchedule.from_scenario({key: 1})
    off = FaultSchedule.from_scenario({"faults.redis.down_at": None, "faults.redis.down_for": 5})
    assert off.windows == []


def test_window_validation_and_exact_end() -> None:
    for bad in (dict(start=-1.0, duration=1.0), dict(start=0.0, duration=0.0),
                dict(start=0.0, kind="slow", factor=0.0), dict(start=0.0, kind="slow", latency=-0.1)):
        with pytest.raises(FaultError):
            FaultWindow("x", **bad)  # type: ignore[arg-type]
    w = FaultWindow.between("x", 0.1, 0.3)
    assert w.end == 0.3 and w.covers(0.1) and not w.covers(0.3)
    with pytest.raises(FaultError):
        FaultWindow.between("x", 5.0, 1.0)


def test_a_schedule_without_a_clock_can_be_asked_but_not_driven() -> None:
    fs = FaultSchedule([FaultWindow("redis", 1.0, 2.0)])
    assert not fs.state("redis", 1.5).up and fs.state("redis", 3.0).up
    with pytest.raises(FaultError, match="no clock"):
        fs.apply()
    with pytest.raises(FaultError, match="no clock"):
        fs.active()


class FakeProxy:
    def __init__(self) -> None:
        self.latency, self.log = 0.0, []  # type: list[str]

    def outage(self) -> None:
        self.log.append("outage")

    def restore(self) -> None:
        self.latency = 0.0
        self.log.append("restore")


def test_bind_proxy_slow_adds_latency_down_cuts_and_both_are_logged(event_log: EventLog) -> None:
    clock = ManualClock(0.0)
    fs = FaultSchedule(clock=clock, event_log=event_log)
    fs.add("redis", 1, 1, kind="slow", latency=0.05)
    fs.add("redis", 3, 1)
    proxy = FakeProxy()
    fs.bind_proxy("redis", proxy)  # type: ignore[arg-type]
    seen = []
    for t in (0.5, 1.5, 2.5, 3.5, 4.5):
        clock.set(t)
        fs.apply()
        seen.append((proxy.latency, list(proxy.log)))
    assert seen[1] == (0.05, []) and seen[2] == (0.0, ["restore"])
    assert seen[3][1] == ["restore", "outage"] and seen[4][1] == ["restore", "outage", "restore"]
    frame = event_log.to_frame()
    assert list(zip(frame["operation"], frame["outcome"], strict=True)) == [
        ("inject", "slow"), ("restore", "slow"), ("inject", "down"), ("restore", "down")]


def test_affects_names_only_targets_with_a_window() -> None:
    """affects() is true for a target with any window, whenever it is, and false for the others."""
    sched = FaultSchedule.from_scenario({"faults.redis.down_at": 100.0, "faults.redis.down_for": 1.0})
    assert sched.affects("redis") and not sched.affects("postgresql")
    sched.add("postgresql", 5.0, 1.0, "slow", factor=2.0)
    assert sched.affects("postgresql")
