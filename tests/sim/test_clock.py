"""SimClock: reads env.now, refuses to sleep, drives a real component."""

from __future__ import annotations

import asyncio

import pytest
import simpy

from sim.clock import SimClock, SimClockError
from supreme.clock import Clock
from supreme.resilience import CircuitBreaker


def test_now_follows_env_and_is_a_clock() -> None:
    env = simpy.Environment()
    clock = SimClock(env)
    assert isinstance(clock, Clock)
    seen = []

    def proc(env: simpy.Environment):
        seen.append(clock.now())
        yield env.timeout(2.5)
        seen.append(clock.now())

    env.process(proc(env))
    env.run()
    assert seen == [0.0, 2.5]


def test_sleep_and_asleep_raise_with_advice() -> None:
    clock = SimClock(simpy.Environment())
    with pytest.raises(SimClockError, match=r"env.timeout"):
        clock.sleep(1.0)
    with pytest.raises(SimClockError):
        asyncio.run(clock.asleep(1.0))


def test_real_breaker_times_out_in_simulated_time() -> None:
    env = simpy.Environment()
    clock = SimClock(env)
    br = CircuitBreaker("dep", clock=clock, sliding_window_size=2, minimum_number_of_calls=2,
                        wait_duration_in_open=30.0)
    for _ in range(2):
        assert br.try_acquire_permission()
        br.on_error(0.01, ConnectionError("down"))
    assert not br.try_acquire_permission()
    env.run(until=29.0)
    assert not br.try_acquire_permission()
    env.run(until=30.0)
    assert br.try_acquire_permission()  # the wait elapsed on the SimPy clock
