"""Fault scenarios: one schedule for the real replay and the SimPy model; bad schedules refused by name."""

from __future__ import annotations

from typing import Any

import pytest

from lab import fault_scenarios as fs
from supreme.replay.sources import Stream
from supreme.resilience.fault_schedule import FaultError
from tests.replay.conftest import walk_frame
from tests.replay.test_pipeline import assert_same_signals, engine_signals

DOWN = {"faults.redis.down_at": 30.0, "faults.redis.down_for": 40.0}


@pytest.mark.parametrize(("faults", "needle"), [
    ({"faults.kafka.down_at": 1.0}, "unknown fault target 'kafka'"),
    ({"faults.pg.slow_at": 1.0}, "unknown fault kind 'slow' for 'pg'"),
    ({"faults.redis.error_at": 1.0, "faults.redis.error_rate": 0.5},
     "unknown fault kind 'error' for 'redis'"),
    ({"faults.redis.flap_at": 1.0}, "faults.redis.flap_at"),
    ({**DOWN, "faults.redis.slow_at": 50.0, "faults.redis.slow_for": 30.0},
     "overlapping fault windows on 'redis': down [30, 70) and slow [50, 80)"),
])
def test_bad_schedules_are_refused_naming_the_fault(faults: dict[str, Any], needle: str) -> None:
    with pytest.raises(FaultError, match=needle.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        fs.check_faults(faults)
    with pytest.raises(FaultError):
        fs.run_sim(faults)


def test_back_to_back_windows_are_not_an_overlap() -> None:
    sched = fs.check_faults({**DOWN, "faults.redis.slow_at": 70.0, "faults.redis.slow_for": 10.0,
                             "faults.redis.slow_latency": 0.001})
    assert [w.kind for w in sorted(sched.windows, key=lambda w: w.start)] == ["down", "slow"]


def _stream() -> tuple[Stream, Any]:
    frame = walk_frame(6000, seed=5)
    return Stream("AAA", "1m", frame, ("AAA.csv",)), frame


def _check_down(out: dict[str, Any], frame: Any) -> None:
    table = out["table"]
    real, sim = table.loc["real"], table.loc["sim"]
    assert real["writes lost"] == 0 and real["writes checked"] == 2 * 25 + 1  # 25 steps of 240 candles
    assert real["L2 errors"] > 0 and real["breaker opened"] >= 1 and real["transitions"].endswith("closed")
    assert 0 <= real["recovery s after fault"] <= 2 * 120.0 / 25  # closed within two steps of the return
    assert sim["writes lost"] == 0 and sim["breaker opened"] == 1 and sim["wrong"] == 0
    assert sim["transitions"] == "open → half_open → closed"
    assert_same_signals(out["real"]["run"].result.signals, engine_signals({"AAA": frame}))
    chaos = out["real"]["log"].query("component == 'Chaos_Engine'")
    assert list(chaos["operation"]) == ["inject", "restore"]
    step = 120.0 / 25
    assert chaos["time"].tolist() == [pytest.approx(30.0, abs=step), pytest.approx(70.0, abs=step)]


def test_redis_disconnect_embedded_real_beside_sim() -> None:
    stream, frame = _stream()
    out = fs.run_scenario(DOWN, stream=stream)
    _check_down(out, frame)
    again = fs.run_scenario(DOWN, stream=stream)
    assert again["table"].drop(columns=[c for c in again["table"] if c.startswith("L2 P")]).equals(
        out["table"].drop(columns=[c for c in out["table"] if c.startswith("L2 P")]))  # deterministic


def test_redis_latency_embedded_changes_latency_not_answers() -> None:
    stream, _ = _stream()
    slow = {"faults.redis.slow_at": 30.0, "faults.redis.slow_for": 40.0, "faults.redis.slow_factor": 3.0,
            "faults.redis.slow_latency": 0.002}
    out = fs.run_scenario(slow, stream=stream)
    real, sim = out["table"].loc["real"], out["table"].loc["sim"]
    assert real["writes lost"] == 0 and real["L2 errors"] == 0 and real["breaker opened"] == 0
    assert sim["L2 errors"] == 0 and sim["L2 P50 ms during"] > 4.0 > sim["L2 P99 ms after"]
    chaos = out["real"]["log"].query("component == 'Chaos_Engine'")
    assert list(chaos["outcome"]) == ["slow", "slow"]


def test_redis_disconnect_on_real_redis_and_postgres(real_redis: Any, real_postgres_url: str,
                                                     namespace: str) -> None:
    stream, frame = _stream()
    out = fs.run_scenario(DOWN, stream=stream, redis_url="redis://127.0.0.1:6379/0",
                          database_url=real_postgres_url, namespace=namespace)
    _check_down(out, frame)


PG_DOWN = {"faults.pg.down_at": 30.0, "faults.pg.down_for": 40.0}


def _check_pg(out: dict[str, Any], frame: Any) -> None:
    real, sim = out["table"].loc["real"], out["table"].loc["sim"]
    assert real["L3 backends ended"] >= 8  # one per step in the 40 s window (120 s / 25 steps)
    assert real["writes lost"] == 0 and real["writes checked"] == 2 * 25 + 1
    assert sim["faults modelled"] == "none" and sim["breaker opened"] == 0
    assert_same_signals(out["real"]["run"].result.signals, engine_signals({"AAA": frame}))
    kills = out["real"]["log"].query("component == 'Chaos_Engine' and operation == 'terminate_backends'")
    assert len(kills) >= 8 and kills["time"].between(30.0, 70.0 + 120.0 / 25).all()


def test_pg_backend_termination_on_sqlite_drops_the_connection() -> None:
    stream, frame = _stream()
    _check_pg(fs.run_scenario(PG_DOWN, stream=stream), frame)


def test_pg_backend_termination_on_real_postgres(real_postgres_url: str, namespace: str) -> None:
    stream, frame = _stream()
    out = fs.run_scenario(PG_DOWN, stream=stream, database_url=real_postgres_url, namespace=namespace)
    _check_pg(out, frame)
    assert out["real"]["run"].summary["l3_pool"]["connections_lost"] >= 1  # psycopg_pool saw them go
