"""The breaker's fast path against a plain reference model, plus the corners the optimisation touches.

The reference keeps every outcome in a list, re-computes the rates after *every* outcome and never
skips a check, so any shortcut of the ring windows (threshold check skipped on good calls, bucket
ring, integer codes) that changed a decision shows up as a differing state or count.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supreme.clock import ManualClock
from supreme.events import EventLog
from supreme.resilience.breaker import CallNotPermitted, CircuitBreaker
from supreme.resilience.breaker_state import State, WindowType


class Boom(Exception):
    pass


class Reference:
    """resilience4j semantics, written for clarity rather than speed (sequential calls only)."""

    def __init__(self, timed: bool, size: int, min_calls: int, fail_thr: float, slow_thr: float,
                 slow_dur: float, wait: float, trials: int) -> None:
        self.timed, self.size, self.fail_thr, self.slow_thr = timed, size, fail_thr, slow_thr
        self.min_closed = min_calls if timed else min(min_calls, size)
        self.slow_dur, self.wait, self.trials = slow_dur, wait, trials
        self.state, self.opened_at, self.started = "closed", 0.0, 0
        self.outcomes: list[tuple[float, bool, bool]] = []

    def window(self, now: float) -> list[tuple[float, bool, bool]]:
        if self.state == "half_open":
            return self.outcomes[-self.trials:]
        if self.timed:
            oldest = math.floor(now) - self.size + 1
            return [o for o in self.outcomes if math.floor(o[0]) >= oldest]
        return self.outcomes[-self.size:]

    def permit(self, now: float) -> bool:
        if self.state == "open" and now >= self.opened_at + self.wait:
            self.state, self.outcomes, self.started = "half_open", [], 0
        if self.state == "closed":
            return True
        if self.state == "half_open" and self.started < self.trials:
            self.started += 1
            return True
        return False

    def over(self, w: list[tuple[float, bool, bool]]) -> bool:
        n = len(w)
        return (100.0 * sum(o[1] for o in w) / n >= self.fail_thr
                or 100.0 * sum(o[2] for o in w) / n >= self.slow_thr)

    def record(self, now: float, failed: bool, duration: float) -> None:
        self.outcomes.append((now, failed, duration > self.slow_dur))
        w = self.window(now)
        if self.state == "closed" and len(w) >= self.min_closed and self.over(w):
            self.state, self.opened_at, self.outcomes = "open", now, []
        elif self.state == "half_open" and len(w) >= self.trials:
            if self.over(w):
                self.state, self.opened_at = "open", now
            else:
                self.state = "closed"
            self.outcomes = []


op = st.one_of(
    st.tuples(st.just("ok"), st.sampled_from([0.0, 0.5, 2.0])),
    st.tuples(st.just("ok"), st.just(0.0)),
    st.tuples(st.just("fail"), st.sampled_from([0.0, 0.5, 2.0])),
    st.tuples(st.just("advance"), st.sampled_from([0.3, 1.0, 4.0, 12.0])),
    st.tuples(st.just("metrics"), st.just(0.0)),
)


@settings(max_examples=300, deadline=None)
@given(timed=st.booleans(), size=st.integers(1, 6), min_calls=st.integers(1, 8),
       fail_thr=st.sampled_from([25.0, 50.0, 60.0, 100.0]), slow_thr=st.sampled_from([34.0, 50.0, 100.0]),
       trials=st.integers(1, 3), ops=st.lists(op, min_size=5, max_size=80))
def test_matches_reference_model(timed: bool, size: int, min_calls: int, fail_thr: float, slow_thr: float,
                                 trials: int, ops: list[tuple[str, float]]) -> None:
    clock = ManualClock(1000.0)
    b = CircuitBreaker("ref", clock=clock, sliding_window_type=WindowType.TIME if timed else WindowType.COUNT,
                       sliding_window_size=size, minimum_number_of_calls=min_calls,
                       failure_rate_threshold=fail_thr, slow_call_rate_threshold=slow_thr,
                       slow_call_duration_threshold=1.0, wait_duration_in_open=5.0,
                       permitted_calls_in_half_open=trials)
    ref = Reference(timed, size, min_calls, fail_thr, slow_thr, 1.0, 5.0, trials)
    for kind, x in ops:
        if kind == "advance":
            clock.advance(x)
            continue
        if kind == "metrics":
            m = b.metrics()
            w = ref.window(clock.now())
            want = (len(w), sum(o[1] for o in w), sum(o[2] for o in w))
            assert (m["calls"], m["failed"], m["slow"]) == want
            continue
        permitted = ref.permit(clock.now())

        def fn(d: float = x, bad: bool = kind == "fail") -> str:
            clock.advance(d)
            if bad:
                raise Boom()
            return "ok"

        if not permitted:
            with pytest.raises(CallNotPermitted):
                b.call(fn)
        else:
            with contextlib.suppress(Boom):
                b.call(fn)
            ref.record(clock.now(), kind == "fail", x)
        assert b._machine.state.value == ref.state


class CountingClock(ManualClock):
    """A ManualClock that counts reads of ``now``."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def now(self) -> float:
        self.reads += 1
        return super().now()


def test_clock_read_only_when_a_duration_is_needed() -> None:
    clock = CountingClock()
    quiet = CircuitBreaker("q", clock=clock, slow_call_duration_threshold=math.inf, record_calls=False)
    for _ in range(10):
        quiet.call(lambda: 1)
    assert clock.reads == 0
    assert quiet.metrics()["calls"] == 10
    timed = CircuitBreaker("t", clock=clock)  # default: slow-call detection at 60 s
    clock.reads = 0
    timed.call(lambda: 1)
    assert clock.reads == 2


def test_infinite_slow_threshold_still_logs_latency_when_the_log_is_on() -> None:
    clock = ManualClock()
    log = EventLog(run_id="t")
    b = CircuitBreaker("q", clock=clock, event_log=log, slow_call_duration_threshold=math.inf)

    def work() -> int:
        clock.advance(3.0)
        return 1

    b.call(work)
    log.enabled = False  # switched off on the hot path: no more rows
    b.call(work)
    frame = log.to_frame()
    calls = frame[frame["operation"] == "call"]
    assert calls["latency"].tolist() == [3.0]
    assert calls["outcome"].tolist() == ["ok"]


def test_count_ring_wraps_many_times_with_exact_counts(clock: ManualClock) -> None:
    b = CircuitBreaker("ring", clock=clock, sliding_window_size=7, minimum_number_of_calls=7,
                       failure_rate_threshold=100.0, slow_call_duration_threshold=1.0)
    pattern = [(False, 0.0), (True, 0.0), (False, 2.0), (True, 2.0), (False, 0.0)]
    seen: list[tuple[bool, bool]] = []
    for i in range(103):
        bad, d = pattern[i % len(pattern)]

        def fn(d: float = d, bad: bool = bad) -> None:
            clock.advance(d)
            if bad:
                raise Boom()

        with contextlib.suppress(Boom):
            b.call(fn)
        seen.append((bad, d > 1.0))
    last = seen[-7:]
    m = b.metrics()
    assert (m["calls"], m["failed"], m["slow"]) == (7, sum(f for f, _ in last), sum(s for _, s in last))
    assert b.state is State.CLOSED


@pytest.mark.parametrize("read_metrics", [True, False])
def test_time_window_opens_on_a_good_call_after_good_calls_aged_out(clock: ManualClock,
                                                                    read_metrics: bool) -> None:
    b = CircuitBreaker("t", clock=clock, sliding_window_type=WindowType.TIME, sliding_window_size=10,
                       minimum_number_of_calls=3, failure_rate_threshold=60.0)
    for _ in range(3):
        b.call(lambda: 1)
    clock.advance(5)
    for _ in range(3):
        with contextlib.suppress(Boom):
            b.call(lambda: (_ for _ in ()).throw(Boom()))
    clock.advance(5.5)
    if read_metrics:
        assert b.metrics()["calls"] == 3  # this read ages the successes out, not the next call
    b.call(lambda: 1)  # 3 failures + 1 success = 75 % >= 60 %, on neither a failure nor the minimum
    assert b.state is State.OPEN


def test_time_window_long_gap_empties_every_bucket(clock: ManualClock) -> None:
    b = CircuitBreaker("t", clock=clock, sliding_window_type=WindowType.TIME, sliding_window_size=3,
                       minimum_number_of_calls=100)
    for _ in range(5):
        b.call(lambda: 1)
        clock.advance(0.7)
    clock.advance(1e6)
    assert b.metrics()["calls"] == 0
    b.call(lambda: 1)
    assert b.metrics()["calls"] == 1


def test_decorator_records_failures_and_keeps_metadata(clock: ManualClock) -> None:
    b = CircuitBreaker("d", clock=clock, sliding_window_size=2, minimum_number_of_calls=2)

    @b
    def flaky(x: int) -> int:
        """Doc."""
        if x < 0:
            raise Boom()
        return x

    assert flaky(3) == 3 and flaky.__doc__ == "Doc."
    with pytest.raises(Boom):
        flaky(-1)  # 1 of 2 failed: 50 % >= 50 %
    assert b.state is State.OPEN
    with pytest.raises(CallNotPermitted):
        flaky(1)


def test_context_manager_in_interleaved_tasks_measures_each_block(clock: ManualClock) -> None:
    b = CircuitBreaker("c", clock=clock, sliding_window_size=10, minimum_number_of_calls=10,
                       slow_call_duration_threshold=1.5)

    async def block(hold: float, steps: int) -> None:
        async with b:
            for _ in range(steps):
                await clock.asleep(hold / steps)

    async def main() -> None:
        # the long block starts first and ends last; with a shared start stack it would be measured
        # from the short one's start
        await asyncio.gather(block(2.0, 4), block(0.2, 1))

    asyncio.run(main())
    m = b.metrics()
    assert (m["calls"], m["slow"]) == (2, 1)


def test_threads_share_time_window_consistently(clock: ManualClock) -> None:
    b = CircuitBreaker("tw", clock=clock, sliding_window_type=WindowType.TIME, sliding_window_size=1000,
                       minimum_number_of_calls=10**6)
    n, per = 4, 1500

    def worker() -> None:
        for j in range(per):
            with contextlib.suppress(OSError), b:
                if j % 3 == 0:
                    raise OSError("x")

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    m = b.metrics()
    assert (m["calls"], m["failed"]) == (n * per, n * len(range(0, per, 3)))
