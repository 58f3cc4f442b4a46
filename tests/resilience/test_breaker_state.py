"""The breaker's pure state machine, driven directly: no lock, no clock, times passed by hand."""

from __future__ import annotations

import itertools

import pytest

from supreme.resilience.breaker_state import (
    TRANSITIONS,
    BreakerConfig,
    BreakerMachine,
    CountWindow,
    IllegalTransition,
    State,
    TimeWindow,
    Trigger,
    WindowType,
)


def machine(**kw: object) -> BreakerMachine:
    settings: dict[str, object] = dict(sliding_window_size=4, minimum_number_of_calls=4,
                                       failure_rate_threshold=50.0, wait_duration_in_open=10.0,
                                       permitted_calls_in_half_open=2, slow_call_duration_threshold=1.0)
    settings.update(kw)
    return BreakerMachine("m", BreakerConfig(**settings))  # type: ignore[arg-type]


def put_in(m: BreakerMachine, state: State) -> None:
    """Bring a fresh machine to ``state`` through legal moves only."""
    route = {State.CLOSED: [], State.OPEN: [Trigger.THRESHOLD_EXCEEDED],
             State.HALF_OPEN: [Trigger.MANUAL_HALF_OPEN], State.FORCED_OPEN: [Trigger.FORCE_OPEN],
             State.DISABLED: [Trigger.DISABLE]}
    for trigger in route[state]:
        m.move(trigger, 0.0)
    assert m.state is state


def drive(m: BreakerMachine, outcomes: str, now: float = 0.0) -> list[Trigger]:
    """Record ``f`` (failed), ``s`` (slow) and ``.`` (ok) outcomes, applying every trigger at ``now``."""
    fired = []
    for c in outcomes:
        trigger = m.record(c == "f", 2.0 if c == "s" else 0.0, now)
        if trigger is not None:
            m.move(trigger, now)
            fired.append(trigger)
    return fired


@pytest.mark.parametrize(("state", "trigger"), sorted(itertools.product(State, Trigger),
                                                      key=lambda p: (p[0].value, p[1].value)))
def test_every_state_trigger_pair_follows_the_table(state: State, trigger: Trigger) -> None:
    m = machine()
    put_in(m, state)
    want = TRANSITIONS.get((state, trigger))
    if want is None:
        with pytest.raises(IllegalTransition, match=f"from {state.value} on {trigger.value}"):
            m.move(trigger, 5.0)
        assert m.state is state
        return
    tr = m.move(trigger, 5.0)
    assert (tr.breaker, tr.from_state, tr.to_state, tr.trigger, tr.time) == ("m", state, want, trigger, 5.0)
    assert m.state is want and m.trials_started == 0 and m.window.calls == 0  # a fresh window
    assert isinstance(m.window, CountWindow)
    assert m.window.size == (2 if want is State.HALF_OPEN else 4)


def test_table_reaches_every_state_and_reset_force_disable_work_from_anywhere() -> None:
    assert set(TRANSITIONS.values()) == set(State)
    for s in State:
        assert TRANSITIONS[(s, Trigger.RESET)] is State.CLOSED
        assert TRANSITIONS[(s, Trigger.FORCE_OPEN)] is State.FORCED_OPEN
        assert TRANSITIONS[(s, Trigger.DISABLE)] is State.DISABLED


def test_allow_in_each_state() -> None:
    for state, permitted in [(State.CLOSED, True), (State.DISABLED, True), (State.FORCED_OPEN, False)]:
        m = machine()
        put_in(m, state)
        assert m.allow(1e9) == (permitted, None)
    m = machine()
    put_in(m, State.HALF_OPEN)
    assert [m.allow(0.0)[0] for _ in range(3)] == [True, True, False]  # two trials, then wait
    m.release()
    assert m.allow(0.0) == (True, None)


def test_open_waits_then_moves_to_half_open_at_the_given_time() -> None:
    m = machine()
    m.move(Trigger.THRESHOLD_EXCEEDED, 100.0)
    assert m.opened_at == 100.0 and m.retry_after(104.0) == 6.0
    assert m.allow(109.999) == (False, None)
    assert m.tick(109.999) is None
    ok, moved = m.allow(110.0)
    assert ok and moved is not None
    assert (moved.from_state, moved.to_state, moved.trigger, moved.time) == (
        State.OPEN, State.HALF_OPEN, Trigger.WAIT_ELAPSED, 110.0)
    assert m.trials_started == 1 and m.retry_after(110.0) == 0.0


def test_closed_opens_on_failure_rate_and_reports_the_rates() -> None:
    m = machine()
    assert drive(m, "..f") == [] and m.state is State.CLOSED
    assert m.metrics(0.0)["failure_rate"] == -1.0  # below the minimum
    assert m.record(True, 0.0, 0.0) is Trigger.THRESHOLD_EXCEEDED  # 2 of 4 = 50 %
    assert m.state is State.CLOSED  # record only proposes; move applies
    tr = m.move(Trigger.THRESHOLD_EXCEEDED, 7.0)
    assert (tr.failure_rate, tr.slow_call_rate, m.opened_at) == (50.0, 0.0, 7.0)


def test_closed_opens_on_slow_call_rate_and_threshold_duration_is_not_slow() -> None:
    m = machine(slow_call_rate_threshold=50.0)
    assert m.record(False, 1.0, 0.0) is None  # exactly the threshold: not slow
    assert drive(m, ".s") == []
    assert drive(m, "s") == [Trigger.THRESHOLD_EXCEEDED]


def test_half_open_trials_pass_or_fail() -> None:
    m = machine()
    put_in(m, State.HALF_OPEN)
    assert drive(m, "..") == [Trigger.TRIALS_PASSED] and m.state is State.CLOSED
    m = machine()
    put_in(m, State.HALF_OPEN)
    assert drive(m, ".f") == [Trigger.TRIALS_FAILED] and m.state is State.OPEN


@pytest.mark.parametrize("state", [State.OPEN, State.FORCED_OPEN, State.DISABLED])
def test_outcomes_count_for_nothing_outside_closed_and_half_open(state: State) -> None:
    m = machine()
    put_in(m, state)
    assert drive(m, "ffffffff") == []
    assert m.state is state and m.window.calls == 0


def test_count_window_caps_minimum_time_window_does_not() -> None:
    assert machine(sliding_window_size=2, minimum_number_of_calls=100).min_calls_closed == 2
    timed = machine(sliding_window_type=WindowType.TIME, sliding_window_size=2, minimum_number_of_calls=5)
    assert timed.min_calls_closed == 5 and isinstance(timed.window, TimeWindow)
    assert drive(timed, "ffff", 0.5) == []
    assert drive(timed, "f", 0.5) == [Trigger.THRESHOLD_EXCEEDED]


def test_time_window_ages_calls_out_and_a_good_call_can_then_open() -> None:
    m = machine(sliding_window_type=WindowType.TIME, sliding_window_size=10, minimum_number_of_calls=3,
                failure_rate_threshold=60.0)
    drive(m, "...", 0.0)
    drive(m, "fff", 5.0)  # 3 of 6: 50 %
    assert m.state is State.CLOSED
    assert m.metrics(10.5)["calls"] == 3  # second 0 has left the window
    assert m.record(False, 0.0, 10.5) is Trigger.THRESHOLD_EXCEEDED  # 3 of 4: 75 %


def test_windows_directly() -> None:
    w = CountWindow(3)
    assert [w.add(c, 0.0) for c in (1, 2, 3, 0)] == [1, 2, 3, 3]
    assert (w.calls, w.failed, w.slow) == (3, 1, 2)  # the first code (failed) was overwritten
    t = TimeWindow(2)
    t.add(1, 0.2)
    t.add(0, 1.7)
    assert (t.calls, t.failed) == (2, 1)
    assert t.add(0, 0.9 - 3) == 2  # an outcome from a second already gone is not counted
    t.expire(2.0)
    assert (t.calls, t.failed, t.stale) == (1, 0, True)


def test_release_only_gives_back_a_started_half_open_trial() -> None:
    m = machine()
    m.release()
    assert m.trials_started == 0
    put_in(m, State.HALF_OPEN)
    m.allow(0.0)
    m.release()
    m.release()
    assert m.trials_started == 0


def test_records_classifies_exceptions() -> None:
    cfg = BreakerConfig(ignore_exceptions=(KeyError,), record_exceptions=(OSError,))
    assert cfg.records(KeyError("k")) is None
    assert cfg.records(OSError("x")) is True
    assert cfg.records(ValueError("v")) is False
    pred = BreakerConfig(record_exception=lambda e: "fatal" in str(e))
    assert pred.records(ValueError("fatal")) is True and pred.records(ValueError("minor")) is False
