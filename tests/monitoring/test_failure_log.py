"""FailureLog: one line per kind of back-end failure, counts for the rest, one line on recovery."""

from __future__ import annotations

import logging

import fakeredis
import pytest
import redis

from supreme.api.auth.errors import AuthUnavailable
from supreme.api.auth.nonces import ReplayGuard
from supreme.api.auth.sessions import SessionStore
from supreme.clock import ManualClock
from supreme.monitoring.failures import FailureLog


def dead_redis() -> redis.Redis:
    """A client on a port nothing listens on, built as Services builds it (connection refused at once)."""
    return redis.Redis.from_url("redis://127.0.0.1:1/0", socket_timeout=1.0, socket_connect_timeout=1.0)


def test_counts_repeats_and_logs_each_kind_once(caplog: pytest.LogCaptureFixture) -> None:
    log = FailureLog(logging.getLogger("t.failures"), "thing")
    with caplog.at_level(logging.WARNING, "t.failures"):
        for _ in range(3):
            log.failed(ConnectionError("refused"))
        assert log.failed(TimeoutError("slow")) == 1
        assert log.counts() == {"ConnectionError": 3, "TimeoutError": 1} and log.failing
        log.succeeded()
        log.succeeded()  # healthy: nothing more
        log.failed(ConnectionError("refused again"))  # a new outage is logged again
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs == [
        "thing failed: ConnectionError: refused (repeats are counted, not logged, until it answers)",
        "thing failed: TimeoutError: slow (repeats are counted, not logged, until it answers)",
        "thing answers again after ConnectionError x3, TimeoutError x1",
        "thing failed: ConnectionError: refused again (repeats are counted, not logged, until it answers)",
    ]
    assert all(r.exc_info is None for r in caplog.records)  # no tracebacks at WARNING


def test_nonce_store_on_a_dead_redis_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    guard = ReplayGuard(dead_redis())
    with caplog.at_level(logging.WARNING, "supreme.api.auth.nonces"):
        for i in range(30):
            with pytest.raises(AuthUnavailable, match="nonce store"):
                guard.first_use("ak_x", f"{i:064x}", 1000)
        assert guard.failures.counts() == {"ConnectionError": 30}
        guard.client = fakeredis.FakeRedis()  # Redis is back
        assert guard.first_use("ak_x", "0" * 64, 1000)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("nonce store (Redis) failed: ConnectionError: Error 111 connecting")
    assert lines[1] == "nonce store (Redis) answers again after ConnectionError x30"
    assert not guard.failures.failing


def test_session_store_on_a_dead_redis_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    store = SessionStore(dead_redis(), ManualClock(0.0))
    with caplog.at_level(logging.WARNING, "supreme.api.auth.sessions"):
        for _ in range(10):
            with pytest.raises(AuthUnavailable, match="session store"):
                store.lookup("tok")
            with pytest.raises(AuthUnavailable, match="session store"):
                store.create("ak_x", frozenset({"signal:read"}))
    assert len(caplog.records) == 1 and "session store (Redis) failed" in caplog.records[0].getMessage()
    assert store.failures.counts() == {"ConnectionError": 20}
