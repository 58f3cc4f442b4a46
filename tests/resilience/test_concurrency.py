"""A breaker shared by threads and asyncio tasks stays consistent."""

from __future__ import annotations

import asyncio
import threading

from supreme.clock import ManualClock
from supreme.events import EventLog
from supreme.resilience.breaker import CallNotPermitted, CircuitBreaker
from supreme.resilience.breaker_state import State


def test_threads_counts_add_up(clock: ManualClock) -> None:
    b = CircuitBreaker("shared", clock=clock, sliding_window_size=100_000, minimum_number_of_calls=100_000)
    n_threads, per = 8, 2_000
    barrier = threading.Barrier(n_threads)

    def worker(i: int) -> None:
        barrier.wait()
        for j in range(per):
            try:
                with b:
                    if (i + j) % 4 == 0:
                        raise OSError("flaky")
            except OSError:
                pass

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    m = b.metrics()
    assert m["calls"] == n_threads * per
    assert m["failed"] == n_threads * per // 4
    assert b.state is State.CLOSED


def test_exactly_permitted_trials_across_threads_and_tasks(clock: ManualClock) -> None:
    log = EventLog()
    b = CircuitBreaker("shared", clock=clock, event_log=log, sliding_window_size=2, minimum_number_of_calls=2,
                       wait_duration_in_open=5, permitted_calls_in_half_open=3)
    b.force_open()
    b.transition_to_half_open()
    gate = threading.Event()
    admitted: list[str] = []
    rejected: list[str] = []
    lock = threading.Lock()

    def trial(who: str) -> None:
        try:
            with b:
                with lock:
                    admitted.append(who)
                gate.wait(5)  # hold the trial open so every other caller competes meanwhile
        except CallNotPermitted:
            with lock:
                rejected.append(who)

    async def tasks() -> None:
        async def one(i: int) -> None:
            try:
                async with b:
                    with lock:
                        admitted.append(f"task{i}")
                    await asyncio.sleep(0)
            except CallNotPermitted:
                with lock:
                    rejected.append(f"task{i}")
        await asyncio.gather(*(one(i) for i in range(10)))

    threads = [threading.Thread(target=trial, args=(f"thread{i}",)) for i in range(10)]
    for t in threads:
        t.start()
    # every thread has either taken a trial (and holds it) or been refused before the tasks run
    for _ in range(500):
        with lock:
            if len(admitted) + len(rejected) == 10:
                break
        gate.wait(0.01)
    assert len(admitted) == 3
    asyncio.run(tasks())  # trials are still held: every task is refused
    gate.set()
    for t in threads:
        t.join()
    assert len(admitted) == 3
    assert len(rejected) == 17
    assert b.state is State.CLOSED  # the three trials succeeded
    frame = log.to_frame()
    calls = frame[frame["operation"] == "call"]
    assert (calls["outcome"] == "ok").sum() == 3
    assert (calls["outcome"] == "rejected").sum() == 17
