"""SimPy throughput: a bare loop of timeouts vs the models of ``sim/``, in one run.

Prints SimPy events processed per second (and event-log rows per second for the
models) and each model's ratio to the bare loop measured in the same run.
Run: ``.venv/bin/python benchmarks/bench_sim.py``.
"""

from __future__ import annotations

import time
from typing import Any

import simpy

from sim.runner import run_model

_count = [0]
_orig_step = simpy.Environment.step


def _counting_step(self: simpy.Environment) -> None:
    _count[0] += 1
    _orig_step(self)


def bare_loop(n: int = 200_000) -> tuple[float, int]:
    """Events/s of one process yielding ``n`` timeouts."""
    env = simpy.Environment()

    def proc(env: simpy.Environment) -> Any:
        for _ in range(n):
            yield env.timeout(1.0)

    env.process(proc(env))
    t0 = time.perf_counter()
    env.run()
    return n / (time.perf_counter() - t0), n


MODELS = {
    "blue_green": {"traffic.rate": 200.0},
    "autoscaling": {"duration": 900.0, "requests.record": False},
    "connection_pool": {"duration": 30.0, "load.rate": 300.0},
    "error_escalation": {"duration": 1800.0, "load.rate": 20.0},
}


def main() -> None:
    """Measure and print."""
    base, n = bare_loop()
    print(f"bare SimPy loop: {base:12,.0f} events/s ({n} timeouts)")
    simpy.Environment.step = _counting_step  # type: ignore[method-assign]
    try:
        for name, sc in MODELS.items():
            _count[0] = 0
            t0 = time.perf_counter()
            log = run_model(name, sc)
            dt = time.perf_counter() - t0
            rate = _count[0] / dt
            print(
                f"{name:17s}: {rate:12,.0f} events/s, {len(log) / dt:10,.0f} log rows/s, "
                f"{_count[0]:8d} events in {dt:6.2f} s  ratio to bare loop {rate / base:5.2f}"
            )
    finally:
        simpy.Environment.step = _orig_step  # type: ignore[method-assign]


if __name__ == "__main__":
    main()
