"""GCRA: exact allow/deny sequences on a ManualClock, in memory and in Redis, and across two processes."""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

import pytest

from supreme.api.ratelimit import (
    GCRA,
    InMemoryRateLimiter,
    RateLimitConfigError,
    RateLimiterUnavailable,
    RateLimitResult,
    RedisRateLimiter,
    rate_limit_headers,
    too_many_requests,
)
from supreme.clock import ManualClock
from supreme.events import EventLog


@pytest.fixture(params=["memory", "fakeredis", pytest.param("redis", marks=pytest.mark.real_redis)])
def make_limiter(request: pytest.FixtureRequest, clock: ManualClock, namespace: str):
    if request.param == "memory":
        client = None
    elif request.param == "fakeredis":
        import fakeredis

        client = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    else:
        client = request.getfixturevalue("real_redis")

    def make(rate: float, burst: int, **kw: Any):
        if client is None:
            return InMemoryRateLimiter(rate, burst, clock, **kw)
        return RedisRateLimiter(client, rate, burst, clock, namespace=namespace, **kw)
    return make


def pattern(limiter: Any, key: str, n: int) -> str:
    return "".join("A" if limiter.check(key).allowed else "d" for _ in range(n))


def test_burst_then_steady_rate(make_limiter: Any, clock: ManualClock) -> None:
    lim = make_limiter(rate=2.0, burst=3)  # T = 0.5 s
    assert pattern(lim, "k", 5) == "AAAdd"
    clock.advance(0.499)
    assert pattern(lim, "k", 1) == "d"
    clock.advance(0.001)
    assert pattern(lim, "k", 2) == "Ad"
    clock.advance(1.0)
    assert pattern(lim, "k", 3) == "AAd"
    clock.advance(10.0)  # fully replenished, never more than the burst
    assert pattern(lim, "k", 4) == "AAAd"


def test_result_fields_are_exact(make_limiter: Any, clock: ManualClock) -> None:
    lim = make_limiter(rate=1.0, burst=2)
    r = lim.check("k")
    assert r == RateLimitResult(allowed=True, limit=2, remaining=1, retry_after=0.0, reset_after=1.0)
    r = lim.check("k")
    assert (r.allowed, r.remaining, r.retry_after, r.reset_after) == (True, 0, 0.0, 2.0)
    r = lim.check("k")
    assert (r.allowed, r.remaining, r.retry_after, r.reset_after) == (False, 0, 1.0, 2.0)
    clock.advance(0.25)
    r = lim.check("k")
    assert (r.allowed, r.retry_after, r.reset_after) == (False, 0.75, 1.75)


def test_keys_are_independent(make_limiter: Any) -> None:
    lim = make_limiter(rate=1.0, burst=1)
    assert pattern(lim, "key:a", 2) == "Ad"
    assert pattern(lim, "ip:10.0.0.1", 2) == "Ad"


def test_cost_uses_several_cells(make_limiter: Any, clock: ManualClock) -> None:
    lim = make_limiter(rate=1.0, burst=4)
    assert lim.check("k", cost=3).allowed
    assert not lim.check("k", cost=2).allowed
    assert lim.check("k", cost=1).allowed
    clock.advance(2.0)
    assert lim.check("k", cost=2).allowed
    with pytest.raises(RateLimitConfigError, match="cost"):
        lim.check("k", cost=5)


def test_denials_do_not_push_the_limit_further(make_limiter: Any, clock: ManualClock) -> None:
    lim = make_limiter(rate=1.0, burst=1)
    lim.check("k")
    for _ in range(100):
        lim.check("k")
    clock.advance(1.0)
    assert lim.check("k").allowed


@pytest.mark.parametrize(("rate", "burst", "match"), [
    (0, 1, "rate"), (-1, 1, "rate"), (float("nan"), 1, "rate"), (float("inf"), 1, "rate"),
    (1, 0, "burst"), (1, 1.5, "burst"), (1, True, "burst"), (2e6, 1, "resolution"),
])
def test_invalid_config(rate: float, burst: int, match: str) -> None:
    with pytest.raises(RateLimitConfigError, match=match):
        GCRA(rate, burst)
    with pytest.raises(ValueError, match=match):  # also a ValueError
        InMemoryRateLimiter(rate, burst, ManualClock())


def test_fractional_rates_match_between_memory_and_redis(clock: ManualClock, redis_client: Any,
                                                          namespace: str) -> None:
    mem = InMemoryRateLimiter(3.0, 5, clock)
    red = RedisRateLimiter(redis_client, 3.0, 5, clock, namespace=namespace)
    seq_m, seq_r = [], []
    for step in range(200):
        clock.advance(0.137 if step % 7 else 0.0)
        seq_m.append(mem.check("k"))
        seq_r.append(red.check("k"))
    assert seq_m == seq_r
    assert 0 < sum(r.allowed for r in seq_m) < 200


def test_429_response_and_headers(clock: ManualClock) -> None:
    lim = InMemoryRateLimiter(0.5, 1, clock)
    ok = lim.check("k")
    assert rate_limit_headers(ok) == {"RateLimit-Limit": "1", "RateLimit-Remaining": "0",
                                      "RateLimit-Reset": "2"}
    denied = lim.check("k")
    clock.advance(0.5)
    denied = lim.check("k")
    resp = too_many_requests(denied)
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "2"  # 1.5 s rounded up to whole seconds
    assert b'"error":"rate_limited"' in resp.body


def test_event_log_records_decisions(clock: ManualClock, event_log: EventLog) -> None:
    lim = InMemoryRateLimiter(1.0, 1, clock, event_log=event_log)
    lim.check("k")
    lim.check("k")
    frame = event_log.to_frame()
    assert list(frame.outcome) == ["ok", "rejected"] and set(frame.component) == {"Rate_Limiter"}


def test_unreachable_redis_fails_open_or_closed(clock: ManualClock) -> None:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2,
                       retry=Retry(NoBackoff(), 0))
    r = RedisRateLimiter(dead, 1.0, 1, clock).check("k")
    assert r.allowed and r.degraded
    with pytest.raises(RateLimiterUnavailable):
        RedisRateLimiter(dead, 1.0, 1, clock, fail_open=False).check("k")


def test_in_memory_sweep_keeps_decisions(clock: ManualClock) -> None:
    lim = InMemoryRateLimiter(1.0, 1, clock, max_keys=10)
    for i in range(50):
        assert lim.check(f"k{i}").allowed
        clock.advance(0.1)
    assert len(lim._tat) <= 11
    assert not lim.check("k49").allowed  # a live key survived the sweep


def _worker(url: str, namespace: str, now: float, attempts: int, queue: Any) -> None:
    import redis

    client = redis.Redis.from_url(url)
    lim = RedisRateLimiter(client, rate=1.0, burst=10, clock=ManualClock(now), namespace=namespace)
    queue.put(sum(lim.check("shared-key").allowed for _ in range(attempts)))
    client.close()


def test_limit_holds_across_two_processes(real_redis: Any, namespace: str) -> None:
    from tests.conftest import REAL_REDIS_URL

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(REAL_REDIS_URL, namespace, 5000.0, 25, queue))
             for _ in range(2)]
    for p in procs:
        p.start()
    counts = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sum(counts) == 10  # the burst, shared; each process alone would have allowed 10


def test_check_records_the_request_id(make_limiter: Any, clock: ManualClock, event_log: EventLog) -> None:
    lim = make_limiter(rate=1.0, burst=1, event_log=event_log, name="key")
    assert lim.check("key:a", request_id="req-1").allowed
    assert not lim.check("key:a", request_id="req-2").allowed
    lim.check("key:a")  # no id: background / legacy callers still work
    frame = event_log.to_frame()
    assert frame["request_id"].tolist()[:2] == ["req-1", "req-2"] and frame["request_id"].isna().iloc[2]
    assert frame["outcome"].tolist() == ["ok", "rejected", "rejected"]
    assert set(frame["component"]) == {"Rate_Limiter"} and set(frame["key"]) == {"key:a"}
    assert (frame["latency"] >= 0).all()


def test_unreachable_store_is_logged_with_the_request_id(clock: ManualClock, event_log: EventLog) -> None:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    r = RedisRateLimiter(dead, 1.0, 1, clock, event_log=event_log, name="ip").check("ip:x", request_id="r9")
    assert r.allowed and r.degraded
    row = event_log.to_frame().iloc[0]
    assert (row["request_id"], row["outcome"], row["tier"]) == ("r9", "error", "L2")
    assert "failed open" in row["detail"]


@pytest.mark.parametrize("cost", [1.0, True, 0, "1"])
def test_in_memory_check_refuses_a_cost_that_is_not_an_integer_in_range(cost: Any) -> None:
    """The hot path's skip of the cost check applies to the integer 1 only."""
    limiter = InMemoryRateLimiter(10.0, 5, ManualClock(0.0))
    if cost is True:  # bool is an int subclass; 1 cell, as before the fast path
        assert limiter.check("k", cost).allowed
        return
    with pytest.raises(RateLimitConfigError):
        limiter.check("k", cost)
