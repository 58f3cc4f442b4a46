"""Fault scenarios: one schedule for the real replay and the SimPy model; bad schedules refused by name."""

from __future__ import annotations

from typing import Any

import numpy as np
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
    ({"faults.pool.slow_at": 1.0}, "unknown fault kind 'slow' for 'pool'"),
    ({"faults.exchange.down_at": 1.0}, "unknown fault kind 'down' for 'exchange'"),
    ({**DOWN, "faults.ratelimit.down_at": 1.0},
     "['ratelimit'] run on the feed world and cannot share a schedule with ['redis']"),
    ({"faults.stream.down_at": 1.0, "faults.exchange.error_at": 1.0},
     "['exchange'] run on the feed world and cannot share a schedule with ['stream']"),
    ({"faults.stream.down_at": 1.0, **DOWN},
     "['stream'] run on the stream world and cannot share a schedule with ['redis']"),
    ({"faults.stream.slow_at": 1.0}, "unknown fault kind 'slow' for 'stream'"),
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


_REFERENCE: dict[int, Any] = {}


def _reference(frame: Any) -> Any:
    """The reference engine's signals for the walk (computed once: every scenario replays the same)."""
    if id(frame) not in _REFERENCE:
        _REFERENCE.clear()
        _REFERENCE[id(frame)] = engine_signals({"AAA": frame})
    return _REFERENCE[id(frame)]


_FRAME = walk_frame(6000, seed=5)


def _stream() -> tuple[Stream, Any]:
    return Stream("AAA", "1m", _FRAME, ("AAA.csv",)), _FRAME


def _check_down(out: dict[str, Any], frame: Any) -> None:
    table = out["table"]
    real, sim = table.loc["real"], table.loc["sim"]
    assert real["writes lost"] == 0 and real["writes checked"] == 2 * 25 + 1  # 25 steps of 240 candles
    assert real["L2 errors"] > 0 and real["breaker opened"] >= 1 and real["transitions"].endswith("closed")
    assert 0 <= real["recovery s after fault"] <= 2 * 120.0 / 25  # closed within two steps of the return
    assert sim["writes lost"] == 0 and sim["breaker opened"] == 1 and sim["wrong"] == 0
    assert sim["transitions"] == "open → half_open → closed"
    assert_same_signals(out["real"]["run"].result.signals, _reference(frame))
    chaos = out["real"]["log"].query("component == 'Chaos_Engine'")
    assert list(chaos["operation"]) == ["inject", "restore"]
    summary = out["real"]["run"].summary  # failed recoveries escalated to the Alert_Manager, one incident
    assert summary["incidents"] == 1 and summary["incidents_unresolved"] == 0
    ops = out["real"]["log"].query("component == 'Alert_Manager'")["operation"]
    assert {"dedup", "resolve"} <= set(ops)
    step = 120.0 / 25
    assert chaos["time"].tolist() == [pytest.approx(30.0, abs=step), pytest.approx(70.0, abs=step)]


def test_redis_disconnect_embedded_real_beside_sim() -> None:
    stream, frame = _stream()
    out = fs.run_scenario(DOWN, stream=stream)
    _check_down(out, frame)
    again = fs.run_scenario(DOWN, stream=stream)
    assert again["table"].drop(columns=[c for c in again["table"] if " ms " in c]).equals(
        out["table"].drop(columns=[c for c in out["table"] if " ms " in c]))  # deterministic


SLOW = {"faults.redis.slow_at": 30.0, "faults.redis.slow_for": 40.0, "faults.redis.slow_factor": 3.0,
        "faults.redis.slow_latency": 0.002}


def _check_slow(out: dict[str, Any]) -> None:
    real, sim = out["table"].loc["real"], out["table"].loc["sim"]
    assert real["writes lost"] == 0 and real["L2 errors"] == 0 and real["breaker opened"] == 0
    assert sim["L2 errors"] == 0 and sim["tier P50 ms during"] > 4.0 > sim["tier P99 ms after"]
    chaos = out["real"]["log"].query("component == 'Chaos_Engine'")
    assert list(chaos["outcome"]) == ["slow", "slow"]


def test_redis_latency_embedded_changes_latency_not_answers() -> None:
    stream, _ = _stream()
    _check_slow(fs.run_scenario(SLOW, stream=stream))


def test_redis_latency_on_real_redis_and_postgres(real_redis: Any, real_postgres_url: str,
                                                  namespace: str) -> None:
    stream, _ = _stream()
    _check_slow(fs.run_scenario(SLOW, stream=stream, redis_url="redis://127.0.0.1:6379/0",
                                database_url=real_postgres_url, namespace=namespace))


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
    # both worlds: the pool replaces each ended connection, L3 answers, no breaker opens
    assert real["L3 errors"] == sim["L3 errors"] == 0 and sim["faults modelled"] == "pg"
    assert sim["writes lost"] == 0
    reconnects = out["sim"].query("component == 'PostgreSQL_L3' and operation == 'reconnect'")
    kills = out["real"]["log"].query("component == 'Chaos_Engine' and operation == 'terminate_backends'")
    assert abs(len(reconnects) - len(kills)) <= 1  # one per termination, as in the real run
    assert reconnects["time"].between(30.0, 70.0 + 120.0 / 25).all()
    assert not out["sim"].query("component == 'Circuit_Breaker' or operation == 'state_change'").size
    assert_same_signals(out["real"]["run"].result.signals, _reference(frame))
    assert len(kills) >= 8 and kills["time"].between(30.0, 70.0 + 120.0 / 25).all()


def test_pg_backend_termination_on_sqlite_drops_the_connection() -> None:
    stream, frame = _stream()
    _check_pg(fs.run_scenario(PG_DOWN, stream=stream), frame)


def test_pg_backend_termination_on_real_postgres(real_postgres_url: str, namespace: str) -> None:
    stream, frame = _stream()
    out = fs.run_scenario(PG_DOWN, stream=stream, database_url=real_postgres_url, namespace=namespace)
    _check_pg(out, frame)
    assert out["real"]["run"].summary["l3_pool"]["connections_lost"] >= 1  # psycopg_pool saw them go


POOL = {"faults.pool.down_at": 30.0, "faults.pool.down_for": 40.0}


def _check_pool(out: dict[str, Any], frame: Any) -> None:
    real, sim = out["table"].loc["real"], out["table"].loc["sim"]
    for r in (real, sim):  # both worlds: L3 calls time out, its breaker opens and closes, nothing lost
        assert r["breaker"] == "L3" and r["L3 errors"] > 0 and r["journaled"] > 0
        assert r["breaker opened"] >= 1 and r["transitions"].endswith("closed")
        assert r["writes lost"] == 0 and r["L2 errors"] == 0 and r["failed"] == 0
    assert real["writes checked"] == 2 * 25 + 1
    assert sim["faults modelled"] == "pool" and sim["tier P99 ms during"] >= 250.0  # waited the timeout
    assert 0 <= real["recovery s after fault"] <= 2 * 120.0 / 25
    assert_same_signals(out["real"]["run"].result.signals, _reference(frame))
    chaos = out["real"]["log"].query("component == 'Chaos_Engine'")
    assert list(chaos["operation"]) == ["hold_connections", "inject", "release_connections", "restore"]


def test_pool_exhaustion_on_sqlite_holds_the_write_lock() -> None:
    stream, frame = _stream()
    _check_pool(fs.run_scenario(POOL, stream=stream), frame)


def test_pool_exhaustion_on_real_postgres(real_postgres_url: str, namespace: str) -> None:
    stream, frame = _stream()
    out = fs.run_scenario(POOL, stream=stream, database_url=real_postgres_url, namespace=namespace)
    _check_pool(out, frame)
    stats = out["real"]["run"].summary["l3_pool"]
    assert stats["requests_errors"] >= 1 and stats["requests_queued"] >= 1  # psycopg_pool's own counters


EXCHANGE_ERRORS = {"faults.exchange.error_at": 30.0, "faults.exchange.error_for": 40.0,
                   "faults.exchange.error_rate": 0.5}
RATE_LIMIT = {"faults.ratelimit.down_at": 30.0, "faults.ratelimit.down_for": 40.0}


def _check_exchange(out: dict[str, Any]) -> None:
    for world in ("real", "sim"):
        r = out["table"].loc[world]
        assert r["breaker"] == "exchange" and r["exchange errors"] > 0 and r["breaker opened"] >= 1
        assert r["transitions"].endswith("closed") and r["recovery s after fault"] <= 10.0 + 1.0
        assert r["failed"] > 0 and r["wrong"] == 0 and r["served"] + r["failed"] >= 595
        assert r["writes lost"] == 0 and r["writes checked"] > 60
        assert "source" in r["answered from"] and r["answer P99 ms after"] < 1000.0
    # every failure is inside the window or the breaker's wait after it, never before
    log = out["real"]["log"]
    failed = log.query("component == 'Client' and operation == 'answer' and outcome == 'failed'")
    assert failed["time"].between(30.0, 70.0 + 10.0 + 1.0).all()


def test_exchange_errors_through_ccxt_connector_and_retry() -> None:
    stream, _ = _stream()
    out = fs.run_scenario(EXCHANGE_ERRORS, stream=stream)
    _check_exchange(out)
    assert out["table"].loc["real", "retries"] > 0  # the retry absorbed some errors before the breaker


def test_rate_limits_embedded_real_beside_sim() -> None:
    stream, _ = _stream()
    _check_exchange(fs.run_scenario(RATE_LIMIT, stream=stream))


def test_exchange_errors_on_real_redis_and_postgres(real_redis: Any, real_postgres_url: str,
                                                    namespace: str) -> None:
    stream, _ = _stream()
    _check_exchange(fs.run_scenario(EXCHANGE_ERRORS, stream=stream, redis_url="redis://127.0.0.1:6379/0",
                                    database_url=real_postgres_url, namespace=namespace))


def test_rate_limits_on_real_redis_and_postgres(real_redis: Any, real_postgres_url: str,
                                                namespace: str) -> None:
    stream, _ = _stream()
    _check_exchange(fs.run_scenario(RATE_LIMIT, stream=stream, redis_url="redis://127.0.0.1:6379/0",
                                    database_url=real_postgres_url, namespace=namespace))


STALL = {"faults.stream.down_at": 30.0, "faults.stream.down_for": 8.0}


def _check_stall(out: dict[str, Any]) -> None:
    for world in ("real", "sim"):
        r = out["table"].loc[world]
        assert r["closed 4008"] == 0 and r["coalesced away"] >= 3 and r["wrong"] == 0
        assert r["stalled received"] < r["served"] / 3  # it missed what was coalesced, the others did not
        assert 0 <= r["recovery s after fault"] <= 1.0 and 7.0 <= r["stalled max delay s"] <= 9.0
        assert r["writes lost"] == 0 and r["failed"] == 0
    real = out["real"]["run"]
    assert real.summary["cache_ok"] and real.summary["coalesced"] == 4  # 8 s, 1 candle/s, a queue of 4


def test_slow_consumer_coalesces_then_catches_up_in_both_worlds() -> None:
    stream, _ = _stream()
    _check_stall(fs.run_scenario(STALL, stream=stream))


def test_slow_consumer_with_the_stream_cache_on_real_redis_and_postgres(
        real_redis: Any, real_postgres_url: str) -> None:
    import psycopg

    stream, _ = _stream()
    out = fs.run_scenario(STALL, stream=stream, redis_url="redis://127.0.0.1:6379/0",
                          database_url=real_postgres_url)
    _check_stall(out)
    log = out["real"]["log"]
    sets = log[log["component"].isin(["Redis_Cache_L2", "PostgreSQL_L3"]) & (log["operation"] == "set")]
    assert set(sets["component"]) == {"Redis_Cache_L2", "PostgreSQL_L3"}  # the cache update reached both
    assert (sets["outcome"] == "ok").all()
    with psycopg.connect(real_postgres_url) as conn:  # and the run removed its table afterwards
        left = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'stream\\_%'").fetchone()
    assert left is not None and left[0] == 0


def test_slow_consumer_past_max_behind_is_closed_4008_in_both_worlds() -> None:
    stream, _ = _stream()
    out = fs.run_scenario({"faults.stream.down_at": 30.0, "faults.stream.down_for": 20.0}, stream=stream)
    for world in ("real", "sim"):
        r = out["table"].loc[world]
        assert r["closed 4008"] == 1 and r["stalled received"] == 29  # up to the window, then closed
        assert r["writes lost"] == 0 and r["failed"] == 0 and np.isnan(r["recovery s after fault"])
    assert out["real"]["run"].summary["close_code"] == 4008
