"""Fault injection through the loopback proxy against the real Redis and PostgreSQL."""

from __future__ import annotations

import contextlib
import threading
import uuid

import pytest

from supreme.clock import ManualClock
from supreme.events import EventLog
from supreme.resilience.breaker import CallNotPermitted, CircuitBreaker
from supreme.resilience.breaker_state import State
from supreme.resilience.chaos import proxied_redis, recover_until_closed
from supreme.resilience.fault_schedule import FaultError, FaultSchedule, FaultWindow
from supreme.resilience.proxy import TcpProxy
from supreme.resilience.recovery import (
    ErrorRecovery,
    Failover,
    ReplaceablePool,
    pg_pool_check,
    redis_reconnect,
)
from tests.conftest import REAL_REDIS_URL


def proxy_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("tcpproxy")]


@pytest.mark.real_redis
def test_redis_through_proxy_fails_during_outage_and_works_after(real_redis: object, namespace: str) -> None:
    import redis

    with proxied_redis(REAL_REDIS_URL, f"supreme-test-{uuid.uuid4().hex[:8]}") as (proxy, client):
        client.set(f"{namespace}a", b"1")
        assert proxy.connections == 1
        with proxy.down():
            assert proxy.connections == 0
            with pytest.raises(redis.ConnectionError):
                client.get(f"{namespace}a")
            with pytest.raises(redis.ConnectionError):
                client.get(f"{namespace}a")  # new connections are refused too
        assert client.get(f"{namespace}a") == b"1"
        assert proxy.stats.refused >= 1 and proxy.stats.dropped == 1
        assert real_redis.get(f"{namespace}a") == b"1"  # type: ignore[attr-defined]  # server untouched
    assert proxy_threads() == []


@pytest.mark.real_redis
def test_schedule_on_manual_clock_drives_the_proxy(real_redis: object, namespace: str,
                                                   event_log: EventLog) -> None:
    import redis

    clock = ManualClock(0.0)
    sched = FaultSchedule.from_scenario({"faults.redis.down_at": 30, "faults.redis.down_for": 10,
                                         "seed": 1}, clock=clock, event_log=event_log)
    assert sched.windows == [FaultWindow("redis", 30.0, 10.0)]
    with proxied_redis(REAL_REDIS_URL, f"supreme-test-{uuid.uuid4().hex[:8]}") as (proxy, client):
        sched.bind_proxy("redis", proxy)
        outcomes = []
        for t in (0, 29.9, 30, 35, 39.99, 40, 50):
            clock.set(t)
            sched.apply()
            try:
                client.set(f"{namespace}t", str(t))
                outcomes.append("ok")
            except redis.ConnectionError:
                outcomes.append("down")
        assert outcomes == ["ok", "ok", "down", "down", "down", "ok", "ok"]
    frame = event_log.to_frame()
    assert list(frame["operation"]) == ["inject", "restore"]
    assert list(frame["time"]) == [30.0, 40.0]
    assert set(frame["component"]) == {"Chaos_Engine"}


def test_schedule_validation_and_slow_windows() -> None:
    clock = ManualClock(0.0)
    with pytest.raises(FaultError):
        FaultSchedule.from_scenario({"faults.redis.down_for": 3}, clock=clock)  # a length, no start
    with pytest.raises(FaultError):
        FaultSchedule.from_scenario({"faults.redis.explode": 3}, clock=clock)
    with pytest.raises(FaultError):
        FaultWindow("redis", 0, 0)
    seen: list[str] = []
    sched = FaultSchedule(clock=clock)
    sched.add("pg", 1, 2, kind="slow", latency=0.01)
    sched.bind("pg", lambda w: seen.append(f"start {w.kind}:{w.latency}"), lambda w: seen.append("end"))
    for t in (0.5, 1, 2, 3, 4):
        clock.set(t)
        sched.apply()
    assert seen == ["start slow:0.01", "end"]
    assert sched.active(1.5) == sched.windows and sched.active(3.0) == []


def test_proxy_refuses_non_loopback_and_cleans_up() -> None:
    with pytest.raises(ValueError):
        TcpProxy("127.0.0.1", 1, listen_host="0.0.0.0")
    with pytest.raises(ValueError):
        TcpProxy("127.0.0.1", 1, latency=-1)
    p = TcpProxy("127.0.0.1", 1)  # nothing listens on port 1: upstream connect fails
    import socket

    # the proxy closes (or resets, like a refused server) the client after the upstream failure
    with contextlib.suppress(ConnectionResetError), \
            socket.create_connection((p.host, p.port), timeout=1) as s:
        assert s.recv(10) == b""
    p.close()
    assert p.stats.upstream_failed == 1
    assert proxy_threads() == []


@pytest.mark.real_redis
def test_breaker_opens_and_recovery_closes_it_after_restore(real_redis: object, namespace: str,
                                                            event_log: EventLog) -> None:
    import redis

    clock = ManualClock(0.0)
    with proxied_redis(REAL_REDIS_URL, f"supreme-test-{uuid.uuid4().hex[:8]}") as (proxy, client):
        b = CircuitBreaker("redis", clock=clock, event_log=event_log, sliding_window_size=3,
                           minimum_number_of_calls=3, wait_duration_in_open=30,
                           permitted_calls_in_half_open=2)
        rec = ErrorRecovery(clock=clock, event_log=event_log, flow="fault_injection",
                            component="Recovery_System")
        rec.register("redis", "reconnect", redis_reconnect(client))
        proxy.outage()
        for _ in range(3):
            with pytest.raises(redis.ConnectionError):
                b.call(client.get, f"{namespace}x")
        assert b.state is State.OPEN
        assert not rec.recover("redis", b).succeeded  # still down: recovery fails, breaker stays open
        with pytest.raises(CallNotPermitted):
            b.call(client.get, f"{namespace}x")
        proxy.restore()
        took = recover_until_closed(b, lambda: client.ping(), clock=clock, recovery=rec, step=1.0,
                                    event_log=event_log)
        assert b.state is State.CLOSED
        assert took == 1.0  # recovery works at once; two half-open trials, one per step of 1 s
    frame = event_log.to_frame()
    assert "Recovery_System" in set(frame["component"]) and "Validation_Engine" in set(frame["component"])
    trans = frame[frame["operation"] == "transition"]["outcome"].tolist()
    assert trans == ["open", "half_open", "closed"]


@pytest.mark.real_redis
def test_failover_to_secondary_url(real_redis: object, namespace: str, clock: ManualClock) -> None:
    import redis

    with proxied_redis(REAL_REDIS_URL, f"supreme-test-{uuid.uuid4().hex[:8]}") as (proxy, primary):
        secondary = redis.Redis.from_url(REAL_REDIS_URL)
        fo = Failover([primary, secondary], lambda c: c.ping())
        b = CircuitBreaker("redis", clock=clock, sliding_window_size=1, minimum_number_of_calls=1,
                           permitted_calls_in_half_open=1)
        rec = ErrorRecovery(clock=clock)
        rec.register("redis", "reconnect", redis_reconnect(primary))
        rec.register("redis", "failover", fo.advance, stage="failover")
        proxy.outage()
        with pytest.raises(redis.ConnectionError):
            b.call(lambda: fo.current.set(f"{namespace}k", b"v"))
        result = rec.recover("redis", b)
        assert [a[0] for a in result.attempts] == ["reconnect", "failover"]
        assert result.procedure == "failover" and fo.current is secondary
        assert b.call(lambda: fo.current.set(f"{namespace}k", b"v"))
        assert b.state is State.CLOSED
        secondary.close()


@pytest.mark.real_postgres
def test_pg_pool_through_proxy_recovers_after_outage(real_postgres_url: str, clock: ManualClock) -> None:
    import psycopg
    from psycopg_pool import ConnectionPool

    from supreme.resilience.pools import pg_connection

    with TcpProxy("127.0.0.1", 5432) as proxy:
        slot = ReplaceablePool(lambda: ConnectionPool(
            proxy.url(real_postgres_url), min_size=1, max_size=2, open=False,
            kwargs={"autocommit": True, "connect_timeout": 1}), timeout=1)
        try:
            b = CircuitBreaker("postgres", clock=clock, sliding_window_size=1, minimum_number_of_calls=1,
                               permitted_calls_in_half_open=1)
            rec = ErrorRecovery(clock=clock)
            rec.register("postgres", "check", lambda: pg_pool_check(slot.pool, timeout=0.3)())
            # the old pool's own reconnect loop may still be backing off after the outage: replace it
            rec.register("postgres", "replace", slot.replace, stage="restart")

            def query() -> int:
                with pg_connection(slot.pool, timeout=0.5) as conn:
                    return int(conn.execute("SELECT 1").fetchone()[0])

            assert b.call(query) == 1
            proxy.outage()
            with pytest.raises((psycopg.OperationalError, TimeoutError)):
                b.call(query)
            assert b.state is State.OPEN
            failed = rec.recover("postgres", b)
            assert not failed.succeeded and [a[0] for a in failed.attempts] == ["check", "replace"]
            proxy.restore()
            result = rec.recover("postgres", b)
            assert result.succeeded, result.attempts
            assert b.state is State.HALF_OPEN
            assert b.call(query) == 1 and b.state is State.CLOSED
        finally:
            slot.close()
