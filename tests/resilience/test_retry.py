"""Retry: full-jitter backoff sequence, deadline, predicate, and composition with the breaker."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from supreme.clock import ManualClock
from supreme.events import EventLog
from supreme.resilience.breaker import CallNotPermitted, CircuitBreaker
from supreme.resilience.breaker_state import State
from supreme.resilience.retry import Retry, RetryDeadlineExceeded, RetryExhausted, full_jitter


class Flaky:
    """Fails ``n`` times, then answers."""

    def __init__(self, n: int, exc: type[Exception] = ConnectionError) -> None:
        self.n, self.exc, self.calls = n, exc, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.n:
            raise self.exc(f"failure {self.calls}")
        return "ok"


def expected_delays(seed: int, n: int, base: float, cap: float) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(0, min(cap, base * 2 ** a)) for a in range(n)]


def test_backoff_sequence_is_seeded_full_jitter(clock: ManualClock) -> None:
    r = Retry(max_attempts=6, base=0.1, cap=1.0, seed=42, clock=clock)
    fn = Flaky(5)
    t0 = clock.now()
    assert r.call(fn) == "ok"
    want = expected_delays(42, 5, 0.1, 1.0)
    assert list(r.delays) == want
    assert clock.now() - t0 == pytest.approx(sum(want))
    assert all(0 <= d <= min(1.0, 0.1 * 2 ** i) for i, d in enumerate(r.delays))
    again = Retry(max_attempts=6, base=0.1, cap=1.0, seed=42, clock=ManualClock())
    again.call(Flaky(5))
    assert list(again.delays) == want


def test_exhaustion_reraises_or_wraps(clock: ManualClock) -> None:
    r = Retry(max_attempts=3, clock=clock)
    fn = Flaky(10)
    with pytest.raises(ConnectionError, match="failure 3"):
        r.call(fn)
    assert fn.calls == 3
    w = Retry(max_attempts=2, clock=clock, reraise=False)
    with pytest.raises(RetryExhausted) as info:
        w.call(Flaky(10))
    assert info.value.attempts == 2 and isinstance(info.value.last, ConnectionError)


def test_non_retryable_error_is_not_retried(clock: ManualClock) -> None:
    fn = Flaky(1, exc=ValueError)
    with pytest.raises(ValueError):
        Retry(max_attempts=5, clock=clock).call(fn)
    assert fn.calls == 1
    custom = Retry(max_attempts=5, clock=clock, retryable=lambda e: isinstance(e, ValueError))
    assert custom.call(Flaky(2, exc=ValueError)) == "ok"


def test_deadline_on_the_clock(clock: ManualClock, event_log: EventLog) -> None:
    r = Retry(max_attempts=100, base=1.0, cap=1.0, deadline=3.0, seed=1, clock=clock, event_log=event_log)
    t0 = clock.now()
    with pytest.raises(RetryDeadlineExceeded) as info:
        r.call(Flaky(1000))
    assert clock.now() - t0 <= 3.0
    assert sum(r.delays) + expected_delays(1, len(r.delays) + 1, 1.0, 1.0)[-1] > 3.0
    assert isinstance(info.value.last, ConnectionError)
    assert "deadline" in set(event_log.to_frame()["outcome"])


def test_retry_below_threshold_then_success_with_breaker(clock: ManualClock) -> None:
    b = CircuitBreaker("svc", clock=clock, sliding_window_size=10, minimum_number_of_calls=10)
    r = Retry(max_attempts=4, clock=clock, breaker=b)
    assert r.call(Flaky(2)) == "ok"
    m = b.metrics()
    assert (m["calls"], m["failed"]) == (3, 2)
    assert b.state is State.CLOSED


def test_never_retries_into_open_breaker(clock: ManualClock) -> None:
    b = CircuitBreaker("svc", clock=clock, sliding_window_size=3, minimum_number_of_calls=3)
    r = Retry(max_attempts=10, clock=clock, breaker=b)
    fn = Flaky(100)
    with pytest.raises(CallNotPermitted) as info:
        r.call(fn)
    assert fn.calls == 3  # the third failure opened the breaker; no 4th attempt
    assert isinstance(info.value.__cause__, ConnectionError)
    assert len(r.delays) == 2
    fn2 = Flaky(0)
    with pytest.raises(CallNotPermitted):
        r.call(fn2)  # already open: refused at once, nothing slept
    assert fn2.calls == 0 and len(r.delays) == 2


def test_async_retry_and_decorator(clock: ManualClock) -> None:
    r = Retry(max_attempts=4, base=0.5, cap=4.0, seed=7, clock=clock)
    state = {"n": 0}

    @r
    async def fetch() -> int:
        state["n"] += 1
        if state["n"] < 3:
            raise TimeoutError("slow")
        return state["n"]

    assert asyncio.run(fetch()) == 3
    assert list(r.delays) == expected_delays(7, 2, 0.5, 4.0)


@pytest.mark.parametrize("kw", [{"max_attempts": 0}, {"base": 0}, {"cap": -1}, {"deadline": 0}])
def test_invalid_settings(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Retry(**kw)  # type: ignore[arg-type]


def test_schedule_is_the_slept_sequence_and_pure(clock: ManualClock) -> None:
    r = Retry(max_attempts=5, base=0.1, cap=0.5, seed=3, clock=clock)
    t0 = clock.now()
    state = r.rng.getstate()
    planned = list(r.schedule())
    assert r.rng.getstate() == state  # nothing drawn from the policy's RNG, nothing slept or logged
    assert clock.now() == t0 and len(r.delays) == 0
    assert planned == expected_delays(3, 4, 0.1, 0.5)
    with pytest.raises(ConnectionError):
        r.call(Flaky(100))
    assert list(r.delays) == planned  # the threaded path slept exactly the planned delays


def test_next_delay_and_full_jitter_use_the_given_rng() -> None:
    r = Retry(base=0.2, cap=1.0, seed=0)
    a, b = random.Random(9), random.Random(9)
    got = [r.next_delay(i, a) for i in range(6)]
    assert got == [full_jitter(i, b, 0.2, 1.0) for i in range(6)]
    assert got == expected_delays(9, 6, 0.2, 1.0)
    assert list(r.schedule(random.Random(9))) == got[: r.max_attempts - 1]
    assert 0.0 <= full_jitter(5000, random.Random(1), 0.2, 1.0) <= 1.0  # no overflow far past the cap
    with pytest.raises(ValueError, match="attempt"):
        full_jitter(-1, random.Random(1), 0.2, 1.0)


def test_schedule_in_simpy_matches_retry_call() -> None:
    import simpy

    r = Retry(max_attempts=4, base=0.5, cap=3.0, seed=11, clock=ManualClock())
    env = simpy.Environment()
    stamps: list[float] = []

    def proc(env: simpy.Environment):  # type: ignore[no-untyped-def]
        for d in r.schedule():
            yield env.timeout(d)
            stamps.append(env.now)

    env.process(proc(env))
    env.run()
    with pytest.raises(ConnectionError):
        r.call(Flaky(100))
    assert stamps == pytest.approx(list(itertools.accumulate(r.delays)))
