"""Connection pools (psycopg_pool, redis-py): exhaustion -> PoolTimeout, state for Monitoring,
and recovery after the server kills our connections (only ours: named by application/client name)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from supreme.clock import ManualClock
from supreme.monitoring.metrics import Metrics
from supreme.resilience.breaker import CircuitBreaker
from supreme.resilience.breaker_state import State
from supreme.resilience.chaos import kill_redis_clients, terminate_pg_backends
from supreme.resilience.fault_schedule import FaultError
from supreme.resilience.pools import (
    PoolTimeout,
    pg_connection,
    pg_pool_stats,
    redis_connection,
    redis_pool_stats,
)
from supreme.resilience.recovery import ErrorRecovery, pg_pool_check, redis_reconnect
from tests.conftest import REAL_REDIS_URL


@pytest.fixture
def app_name() -> str:
    return f"supreme-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def pg_pool(real_postgres_url: str, app_name: str) -> Iterator[object]:
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool(real_postgres_url, min_size=1, max_size=1, name="l3",
                          kwargs={"application_name": app_name, "autocommit": True}, open=False)
    pool.open(wait=True, timeout=5)
    yield pool
    pool.close(timeout=1)


@pytest.mark.real_postgres
def test_pg_pool_exhaustion_is_pool_timeout(pg_pool: object) -> None:
    pool = pg_pool
    held = pool.getconn()  # type: ignore[attr-defined]
    try:
        stats = pg_pool_stats(pool)
        assert (stats.in_use, stats.idle, stats.max_size) == (1, 0, 1)
        with pytest.raises(PoolTimeout, match=r"'l3'.*0\.3s.*max_size=1") as info, \
                pg_connection(pool, timeout=0.3):
            pass
        assert isinstance(info.value, TimeoutError)
    finally:
        pool.putconn(held)  # type: ignore[attr-defined]
    with pg_connection(pool, timeout=0.3) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.real_postgres
def test_pg_pool_waiting_is_exported(pg_pool: object) -> None:
    metrics = Metrics()
    metrics.add_pool("l3", lambda: pg_pool_stats(pg_pool))
    held = pg_pool.getconn()  # type: ignore[attr-defined]
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(pg_pool.getconn(timeout=5)))  # type: ignore[attr-defined]
    waiter.start()
    try:
        for _ in range(200):  # wait (bounded) until the pool counts the blocked request
            if pg_pool_stats(pg_pool).waiting == 1:
                break
            threading.Event().wait(0.01)
        snap = metrics.snapshot()
        assert snap.value("supreme_pool_connections", pool="l3", state="waiting") == 1
        assert snap.value("supreme_pool_connections", pool="l3", state="in_use") == 1
    finally:
        pg_pool.putconn(held)  # type: ignore[attr-defined]
        waiter.join(5)
        for c in got:
            pg_pool.putconn(c)  # type: ignore[attr-defined]
    assert len(got) == 1


@pytest.mark.real_postgres
def test_pg_pool_recovers_after_our_backends_are_terminated(
        pg_pool: object, real_postgres_url: str, app_name: str, clock: ManualClock) -> None:
    import psycopg

    with pg_connection(pg_pool, timeout=1) as conn:
        pid_before = conn.info.backend_pid
    with psycopg.connect(real_postgres_url, autocommit=True) as admin:
        with pytest.raises(FaultError):
            terminate_pg_backends(admin, "")
        assert terminate_pg_backends(admin, app_name) == 1
    b = CircuitBreaker("postgres", clock=clock, sliding_window_size=1, minimum_number_of_calls=1)
    b.force_open()
    rec = ErrorRecovery(clock=clock)
    rec.register("postgres", "check", pg_pool_check(pg_pool, timeout=2))
    result = rec.recover("postgres", b)
    assert result.succeeded, result.attempts
    assert b.state is State.HALF_OPEN
    with pg_connection(pg_pool, timeout=1) as conn:
        assert conn.info.backend_pid != pid_before
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.real_redis
def test_redis_blocking_pool_exhaustion_is_pool_timeout(real_redis: object) -> None:
    import redis

    pool = redis.BlockingConnectionPool.from_url(REAL_REDIS_URL, max_connections=1, timeout=0.2)
    try:
        with redis_connection(pool, name="l2") as conn:
            stats = redis_pool_stats(pool, "l2")
            assert (stats.in_use, stats.idle, stats.max_size) == (1, 0, 1)
            with pytest.raises(PoolTimeout, match=r"'l2'.*0\.2s.*max_connections=1"), \
                    redis_connection(pool, name="l2"):
                pass
            conn.send_command("PING")
            assert conn.read_response() in (b"PONG", "PONG")
        assert redis_pool_stats(pool, "l2").idle == 1
        assert redis.Redis(connection_pool=pool).ping()
    finally:
        pool.disconnect()


@pytest.mark.real_redis
def test_redis_recovers_after_our_clients_are_killed(real_redis: object, namespace: str,
                                                     clock: ManualClock) -> None:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    name = f"supreme-test-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(REAL_REDIS_URL, client_name=name, retry=Retry(NoBackoff(), 0))
    client.set(f"{namespace}k", b"v")
    old_id = client.client_id()
    with pytest.raises(FaultError):
        kill_redis_clients(real_redis, " ")
    assert kill_redis_clients(real_redis, name) == 1
    assert name not in {c.get("name") for c in real_redis.client_list()}  # type: ignore[attr-defined]
    metrics = Metrics()
    metrics.add_pool("l2", lambda: redis_pool_stats(client.connection_pool, "l2"))
    b = CircuitBreaker("redis", clock=clock, sliding_window_size=1, minimum_number_of_calls=1,
                       permitted_calls_in_half_open=1)
    b.force_open()
    rec = ErrorRecovery(clock=clock)
    rec.register("redis", "reconnect", redis_reconnect(client))
    assert rec.recover("redis", b).succeeded
    assert b.state is State.HALF_OPEN
    assert b.call(client.get, f"{namespace}k") == b"v"
    assert b.state is State.CLOSED
    assert client.client_id() != old_id  # a new server-side connection
    assert metrics.snapshot().value("supreme_pool_connections", pool="l2", state="idle") >= 1
    client.close()
