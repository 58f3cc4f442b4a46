"""The seed's "Fault Injection Testing" flow end to end, against the real Redis and the real PostgreSQL.

A real CacheManager: L1 memory, L2 RedisTier reached through a loopback TcpProxy (so only our own
connections are cut), L3 SqlTier on PostgreSQL; L2 calls guarded by a real CircuitBreaker.  Market
data (the bundled sample's SPX candles) is replayed through it; the Chaos_Engine (FaultSchedule bound
to the proxy) disconnects Redis for a window of the replay.  The breaker opens, ErrorRecovery's
reconnect fails while the proxy refuses, the strategy escalates to failover (answers from L1/L3, L2
writes journaled), the proxy is restored, recovery succeeds, HALF_OPEN, a test request, CLOSED, the
journal is flushed and the Validation_Engine checks that nothing was lost -- in Redis itself.

The breaker, recovery and fault windows run on a ManualClock (one replay step = one second), so the
test has no timing assertions; only the proxy and the servers use real time.  The same flow also
runs on fakeredis (its server's ``connected`` switch) + SQLite.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from supreme.cache.codec import decode_entry
from supreme.cache.manager import CacheManager
from supreme.cache.tiers.memory import MemoryTier
from supreme.cache.tiers.redis_tier import RedisTier
from supreme.cache.tiers.sql_tier import SqlTier
from supreme.clock import ManualClock
from supreme.events import EventLog
from supreme.market.sample import load_sample
from supreme.resilience.breaker import CallNotPermitted, CircuitBreaker
from supreme.resilience.breaker_state import State
from supreme.resilience.chaos import proxied_redis, recover_until_closed
from supreme.resilience.fault_schedule import FaultSchedule, FaultWindow
from supreme.resilience.recovery import ErrorRecovery, redis_reconnect

FAULT_AT, FAULT_FOR, STEPS, RETRY_EVERY = 20, 15, 50, 4


@dataclass
class Backends:
    """The Redis client behind L2, the L3 URL, and how the Chaos_Engine cuts Redis."""

    kind: str
    client: Any
    raw: Any  # a client that bypasses the fault, to read what Redis really holds
    l3_url: str
    bind: Any  # bind(schedule): attach the disconnect switch to the schedule


_REAL = pytest.param("real", marks=[pytest.mark.real_redis, pytest.mark.real_postgres])


@pytest.fixture(params=[_REAL, "fake"])
def backends(request: pytest.FixtureRequest, namespace: str, tmp_path: Path) -> Iterator[Backends]:
    if request.param == "real":
        from tests.conftest import REAL_REDIS_URL

        raw = request.getfixturevalue("real_redis")
        pg = request.getfixturevalue("real_postgres_url")
        with proxied_redis(REAL_REDIS_URL, f"{namespace}e2e", socket_timeout=0.5) as (proxy, client):
            yield Backends("real", client, raw, pg, lambda sched: sched.bind_proxy("redis", proxy))
        return
    import fakeredis

    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server)

    def bind(sched: FaultSchedule) -> None:
        sched.bind("redis", lambda w: setattr(server, "connected", False),
                   lambda w: setattr(server, "connected", True))

    raw = fakeredis.FakeRedis(server=server)
    yield Backends("fake", client, raw, f"sqlite:///{tmp_path / 'l3.db'}", bind)


class _Failover:
    """The escalation hook of ErrorRecovery: the strategy escalates to failover (serve from L1/L3)."""

    def __init__(self, l3: SqlTier, clock: ManualClock, log: EventLog) -> None:
        self.l3, self.clock, self.log = l3, clock, log
        self.count = 0

    def escalate(self, component: str, message: str, *, key: str | None = None,
                 context: dict[str, Any] | None = None) -> bool:
        self.l3.peek("failover-probe")  # L3 must answer for the failover to hold
        self.count += 1
        self.log.record(self.clock.now(), "fault_injection", "Recovery_System", "failover", "ok", key=key,
                        detail="serving from L1/L3; L2 writes journaled")
        return True


def test_fault_injection_end_to_end(backends: Backends, namespace: str) -> None:
    clock = ManualClock(0.0)
    log = EventLog(run_id="e2e", world="real")
    candles = load_sample("SPX").head(STEPS)
    keys = [f"ohlcv:SPX:1d:{int(ts)}" for ts in candles["timestamp"]]
    rows = [[float(x) for x in r] for r in candles[["open", "high", "low", "close", "volume"]].to_numpy()]

    breaker = CircuitBreaker("redis", clock=clock, event_log=log, failure_rate_threshold=50.0,
                             sliding_window_size=4, minimum_number_of_calls=4, wait_duration_in_open=3600.0,
                             permitted_calls_in_half_open=1)
    l2 = RedisTier(backends.client, namespace=f"{namespace}cache:")
    l3 = SqlTier(backends.l3_url, clock=clock, namespace=namespace)
    manager = CacheManager(MemoryTier("LRU", clock=clock, capacity=8), l2, l3, clock=clock, event_log=log,
                           guards={"L2": breaker.call}, unavailable_errors=(CallNotPermitted,),
                           flow="fault_injection")
    failover = _Failover(l3, clock, log)
    recovery = ErrorRecovery(clock=clock, event_log=log, escalation=failover, flow="fault_injection",
                             component="Recovery_System")
    recovery.register("redis", "reconnect", redis_reconnect(backends.client), stage="reconnect")
    chaos = FaultSchedule([FaultWindow("redis", FAULT_AT, FAULT_FOR)], clock=clock, event_log=log)
    backends.bind(chaos)

    answers: list[Any] = []
    try:
        for i, (key, row) in enumerate(zip(keys, rows, strict=True)):
            clock.set(float(i + 1))
            chaos.apply()
            manager.set(key, row)  # a candle closes: write it through every tier
            j = max(0, i - 9)  # read an older candle (often an L1 miss, so L2/L3 are asked)
            answers.append((manager.get(keys[j]), rows[j]))
            if breaker.state is State.OPEN and (i - FAULT_AT) % RETRY_EVERY == 0:
                recovery.recover("redis", breaker)  # fails while the proxy refuses
            if breaker.state is State.HALF_OPEN:
                break
            if i + 1 >= FAULT_AT + FAULT_FOR and breaker.state is not State.CLOSED:
                clock.set(float(FAULT_AT + FAULT_FOR))
                chaos.apply()  # the Chaos_Engine restores Redis
                recover_until_closed(breaker, l2.ping, clock=clock, recovery=recovery, dependency="redis",
                                     step=1.0, timeout=60.0, event_log=log)
                break
        written = i + 1
        assert breaker.state is State.CLOSED
        flushed = manager.flush_pending()
        assert manager.pending() == {"L2": 0, "L3": 0}
    finally:
        with contextlib.suppress(Exception):
            manager.close()

    # callers always got answers, and the right ones
    assert all(got == want for got, want in answers)
    # nothing lost: every write is in Redis itself after the flush (read past the fault injection)
    assert flushed > 0
    for key, row in zip(keys[:written], rows[:written], strict=True):
        raw = backends.raw.get(f"{namespace}cache:{key}")
        assert raw is not None, key
        assert decode_entry(raw)[0] == row
    # the timeline, in order
    frame = log.to_frame()
    timeline = frame[
        (frame["component"] == "Chaos_Engine")
        | ((frame["component"] == "Circuit_Breaker") & (frame["operation"] == "transition"))
        | ((frame["component"] == "Recovery_System") & frame["operation"].isin(["reconnect", "failover"]))
        | (frame["component"] == "Validation_Engine")
    ]
    events = list(zip(timeline["component"], timeline["operation"], timeline["outcome"], strict=True))
    compact = [e for k, e in enumerate(events) if k == 0 or e != events[k - 1]]
    assert compact == [
        ("Chaos_Engine", "inject", "down"),
        ("Circuit_Breaker", "transition", "open"),
        ("Recovery_System", "reconnect", "error"),
        ("Recovery_System", "failover", "ok"),
        *compact[4:-5],
        ("Chaos_Engine", "restore", "down"),
        ("Recovery_System", "reconnect", "ok"),
        ("Circuit_Breaker", "transition", "half_open"),
        ("Circuit_Breaker", "transition", "closed"),
        ("Validation_Engine", "validate", "ok"),
    ]
    middle = compact[4:-5]
    assert set(middle) <= {("Recovery_System", "reconnect", "error"), ("Recovery_System", "failover", "ok")}
    times = list(timeline["time"])
    assert times == sorted(times)
    assert FAULT_AT <= timeline[timeline["outcome"] == "open"]["time"].iloc[0] < FAULT_AT + FAULT_FOR
    assert failover.count >= 1
