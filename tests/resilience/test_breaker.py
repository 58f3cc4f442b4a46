"""Circuit breaker state machine on a ManualClock: every transition and threshold."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from supreme.clock import ManualClock
from supreme.errors import SupremeError
from supreme.events import EventLog
from supreme.monitoring.metrics import Metrics
from supreme.resilience.breaker import CallNotPermitted, CircuitBreaker
from supreme.resilience.breaker_state import (
    TRANSITIONS,
    BreakerConfigError,
    IllegalTransition,
    State,
    StateTransition,
    Trigger,
    WindowType,
)


class Boom(Exception):
    pass


class Harmless(Exception):
    pass


def ok() -> str:
    return "ok"


def fail() -> None:
    raise Boom("down")


def make(clock: ManualClock, **kw: object) -> CircuitBreaker:
    settings: dict[str, object] = dict(sliding_window_size=4, minimum_number_of_calls=4,
                                       failure_rate_threshold=50.0, wait_duration_in_open=10.0,
                                       permitted_calls_in_half_open=2)
    settings.update(kw)
    return CircuitBreaker("svc", clock=clock, **settings)  # type: ignore[arg-type]


def run(b: CircuitBreaker, fn: object) -> None:
    with contextlib.suppress(Boom):
        b.call(fn)  # type: ignore[arg-type]


def open_breaker(b: CircuitBreaker) -> None:
    for _ in range(4):
        run(b, fail)
    assert b.state is State.OPEN


def test_stays_closed_below_minimum_calls(clock: ManualClock) -> None:
    b = make(clock)
    for _ in range(3):
        run(b, fail)
    assert b.state is State.CLOSED
    assert b.metrics()["failure_rate"] == -1.0  # not evaluated before minimum_number_of_calls
    run(b, fail)
    assert b.state is State.OPEN


def test_failure_rate_threshold_is_inclusive(clock: ManualClock) -> None:
    b = make(clock)
    run(b, ok)
    run(b, ok)
    run(b, fail)
    assert b.state is State.CLOSED
    run(b, fail)  # 2/4 = 50 % >= 50 %
    assert b.state is State.OPEN
    assert b.transitions[-1].failure_rate == 50.0


def test_below_threshold_stays_closed_and_window_slides(clock: ManualClock) -> None:
    b = make(clock, failure_rate_threshold=75.0)
    for fn in (fail, ok, fail, ok, ok, fail):  # the last 4 never hold 3 failures
        run(b, fn)
    assert b.state is State.CLOSED
    m = b.metrics()
    assert m["calls"] == 4 and m["failed"] == 2
    run(b, fail)  # last 4: ok ok fail fail -> 50 %
    run(b, fail)  # last 4: ok fail fail fail -> 75 %
    assert b.state is State.OPEN


def test_minimum_calls_capped_by_count_window(clock: ManualClock) -> None:
    b = make(clock, sliding_window_size=2, minimum_number_of_calls=100)
    run(b, fail)
    run(b, fail)
    assert b.state is State.OPEN


def test_open_rejects_until_wait_elapses_then_half_open(clock: ManualClock) -> None:
    b = make(clock)
    open_breaker(b)
    with pytest.raises(CallNotPermitted) as info:
        b.call(ok)
    assert isinstance(info.value, SupremeError)
    assert info.value.retry_after == pytest.approx(10.0)
    clock.advance(9.999)
    assert not b.try_acquire_permission()
    clock.advance(0.001)
    assert b.call(ok) == "ok"
    assert b.state is State.HALF_OPEN


def test_half_open_trials_success_closes(clock: ManualClock) -> None:
    b = make(clock)
    open_breaker(b)
    clock.advance(10)
    b.call(ok)
    assert b.state is State.HALF_OPEN
    b.call(ok)
    assert b.state is State.CLOSED
    assert [t.trigger for t in b.transitions] == [Trigger.THRESHOLD_EXCEEDED, Trigger.WAIT_ELAPSED,
                                                  Trigger.TRIALS_PASSED]
    assert b.metrics()["calls"] == 0  # fresh window after closing


def test_half_open_trial_failure_reopens(clock: ManualClock) -> None:
    b = make(clock)
    open_breaker(b)
    clock.advance(10)
    run(b, ok)
    run(b, fail)  # 1/2 = 50 % >= 50 %
    assert b.state is State.OPEN
    with pytest.raises(CallNotPermitted):
        b.call(ok)
    assert b.retry_after() == pytest.approx(10.0)  # a new wait from the re-open


def test_half_open_permits_only_n_trials(clock: ManualClock) -> None:
    b = make(clock)
    open_breaker(b)
    clock.advance(10)
    assert b.try_acquire_permission()
    assert b.try_acquire_permission()
    assert not b.try_acquire_permission()  # the third trial waits for the outcome of the first two
    b.on_success(0.0)
    b.on_success(0.0)
    assert b.state is State.CLOSED


def test_slow_call_rate_opens(clock: ManualClock) -> None:
    b = make(clock, slow_call_duration_threshold=1.0, slow_call_rate_threshold=50.0)

    def slow() -> str:
        clock.advance(1.5)
        return "late"

    b.call(ok)
    b.call(slow)
    b.call(ok)
    assert b.state is State.CLOSED
    b.call(slow)  # 2 slow of 4 -> 50 %
    assert b.state is State.OPEN
    assert b.transitions[-1].slow_call_rate == 50.0
    assert b.transitions[-1].failure_rate == 0.0


def test_exactly_threshold_duration_is_not_slow(clock: ManualClock) -> None:
    b = make(clock, slow_call_duration_threshold=1.0, slow_call_rate_threshold=25.0)
    for _ in range(4):
        b.on_success(1.0)
    assert b.state is State.CLOSED


def test_time_window_expires_old_buckets(clock: ManualClock) -> None:
    b = make(clock, sliding_window_type=WindowType.TIME, sliding_window_size=10, minimum_number_of_calls=3)
    run(b, fail)
    run(b, fail)
    clock.advance(10.0)  # both failures fall out of the 10-second window
    run(b, fail)
    assert b.state is State.CLOSED
    assert b.metrics()["calls"] == 1
    clock.advance(0.5)
    run(b, ok)
    run(b, fail)  # 2 failures of 3 in the window
    assert b.state is State.OPEN


def test_time_window_does_not_cap_minimum_calls(clock: ManualClock) -> None:
    b = make(clock, sliding_window_type=WindowType.TIME, sliding_window_size=2, minimum_number_of_calls=5)
    for _ in range(4):
        run(b, fail)
    assert b.state is State.CLOSED
    run(b, fail)
    assert b.state is State.OPEN


def test_ignored_exceptions_do_not_count_and_release_trials(clock: ManualClock) -> None:
    b = make(clock, ignore_exceptions=(Harmless,))

    def harmless() -> None:
        raise Harmless()

    for _ in range(10):
        with pytest.raises(Harmless):
            b.call(harmless)
    assert b.metrics()["calls"] == 0
    open_breaker(b)
    clock.advance(10)
    with pytest.raises(Harmless):
        b.call(harmless)
    assert b.metrics()["half_open_trials_started"] == 0  # permit given back
    b.call(ok)
    b.call(ok)
    assert b.state is State.CLOSED


def test_record_exceptions_whitelist_and_predicate(clock: ManualClock) -> None:
    b = make(clock, record_exceptions=(Boom,))

    def other() -> None:
        raise KeyError("x")

    for _ in range(4):
        with pytest.raises(KeyError):
            b.call(other)
    assert b.state is State.CLOSED  # non-recorded errors count as successes
    assert b.metrics()["calls"] == 4 and b.metrics()["failed"] == 0

    p = make(clock, record_exception=lambda e: "fatal" in str(e))
    for msg in ("fatal a", "minor", "fatal b", "fatal c"):
        with pytest.raises(Boom):
            p.call(lambda m=msg: (_ for _ in ()).throw(Boom(m)))
    assert p.state is State.OPEN


def test_listeners_and_event_log_and_monitor(clock: ManualClock, event_log: EventLog) -> None:
    metrics = Metrics()
    seen: list[StateTransition] = []
    b = CircuitBreaker("redis", clock=clock, event_log=event_log, monitor=metrics, sliding_window_size=2,
                       minimum_number_of_calls=2, wait_duration_in_open=1, permitted_calls_in_half_open=1)
    b.add_listener(seen.append)
    run(b, fail)
    run(b, fail)
    with pytest.raises(CallNotPermitted):
        b.call(ok)
    assert [(t.from_state, t.to_state) for t in seen] == [(State.CLOSED, State.OPEN)]
    snap = metrics.snapshot()
    assert snap.value("supreme_breaker_state", breaker="redis", supreme_breaker_state="open") == 1.0
    assert snap.value("supreme_breaker_calls_total", breaker="redis", outcome="rejected") == 1.0
    frame = event_log.to_frame()
    assert set(frame["flow"]) == {"circuit_breaker"}
    assert set(frame["component"]) == {"Circuit_Breaker"}
    tr = frame[frame["operation"] == "transition"]
    assert list(tr["outcome"]) == ["open"]
    assert list(frame[frame["operation"] == "call"]["outcome"]) == ["error", "error", "rejected"]


def test_listener_may_call_back_into_breaker(clock: ManualClock) -> None:
    b = make(clock)
    states: list[State] = []
    b.add_listener(lambda t: states.append(b.state))
    open_breaker(b)
    assert states == [State.OPEN]


def test_decorator_and_context_manager(clock: ManualClock) -> None:
    b = make(clock, slow_call_duration_threshold=2.0)

    @b
    def add(x: int, y: int) -> int:
        return x + y

    assert add(2, 3) == 5
    assert add.__name__ == "add"
    with b:
        clock.advance(3.0)  # a slow call measured on the clock by the context manager
    with pytest.raises(Boom), b:
        raise Boom()
    m = b.metrics()
    assert (m["calls"], m["failed"], m["slow"]) == (3, 1, 1)


def test_nested_context_managers_measure_their_own_duration(clock: ManualClock) -> None:
    b = make(clock, slow_call_duration_threshold=2.0, sliding_window_size=10, minimum_number_of_calls=10)
    with b:
        clock.advance(1.5)
        with b:
            clock.advance(1.0)  # inner: 1.0 s (fast); outer: 2.5 s (slow)
    assert b.metrics()["slow"] == 1


def test_async_decorator_and_context(clock: ManualClock) -> None:
    b = make(clock)

    @b
    async def fetch() -> str:
        await clock.asleep(0.1)
        return "tick"

    @b
    async def broken() -> None:
        raise Boom()

    async def main() -> None:
        assert await fetch() == "tick"
        for _ in range(3):
            with pytest.raises(Boom):
                await broken()
        assert b.state is State.OPEN
        with pytest.raises(CallNotPermitted):
            async with b:
                pass

    asyncio.run(main())


def test_cancellation_releases_half_open_trial(clock: ManualClock) -> None:
    b = make(clock)
    open_breaker(b)
    clock.advance(10)

    async def hang() -> None:
        await asyncio.Event().wait()

    async def main() -> None:
        task = asyncio.create_task(b.acall(hang))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert b.state is State.HALF_OPEN
    assert b.metrics()["half_open_trials_started"] == 0


def test_manual_transitions_and_table(clock: ManualClock) -> None:
    b = make(clock)
    with pytest.raises(IllegalTransition):
        b._transition(Trigger.TRIALS_PASSED)  # CLOSED has no trial outcome
    b.force_open()
    assert b.state is State.FORCED_OPEN
    clock.advance(1e6)
    with pytest.raises(CallNotPermitted):
        b.call(ok)  # forced open never times out
    b.transition_to_half_open()
    assert b.state is State.HALF_OPEN
    b.disable()
    for _ in range(10):
        run(b, fail)
    assert b.state is State.DISABLED
    b.reset()
    assert b.state is State.CLOSED
    assert all(isinstance(k[0], State) and isinstance(v, State) for k, v in TRANSITIONS.items())


def test_automatic_transition_on_read(clock: ManualClock) -> None:
    b = make(clock, automatic_transition_from_open_to_half_open=True)
    open_breaker(b)
    clock.advance(10)
    assert b.state is State.HALF_OPEN
    assert b.transitions[-1].trigger is Trigger.WAIT_ELAPSED


@pytest.mark.parametrize(
    "kw",
    [
        {"failure_rate_threshold": 0},
        {"failure_rate_threshold": 100.5},
        {"slow_call_rate_threshold": -1},
        {"sliding_window_size": 0},
        {"minimum_number_of_calls": -3},
        {"permitted_calls_in_half_open": 1.5},
        {"wait_duration_in_open": -1},
        {"slow_call_duration_threshold": 0},
        {"record_exceptions": (int,)},
        {"sliding_window_type": "count"},
        {"no_such_setting": 1},
    ],
)
def test_invalid_config_is_a_clear_error(kw: dict[str, object]) -> None:
    with pytest.raises(BreakerConfigError) as info:
        CircuitBreaker("x", **kw)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    name = next(iter(kw))
    assert name in str(info.value) or "unknown" in str(info.value)


def test_time_window_good_calls_aging_out_can_open_on_a_success(clock: ManualClock) -> None:
    b = make(clock, sliding_window_type=WindowType.TIME, sliding_window_size=10, minimum_number_of_calls=4,
             failure_rate_threshold=60.0)
    for _ in range(3):
        run(b, ok)
    clock.advance(5)
    for _ in range(3):
        run(b, fail)  # 3/6 = 50 % < 60 %
    assert b.state is State.CLOSED
    clock.advance(5.5)  # the three successes age out
    run(b, ok)  # window: 3 failures + 1 success = 75 %
    assert b.state is State.OPEN
