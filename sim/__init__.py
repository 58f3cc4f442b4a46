"""SimPy models of the seed diagrams and the infrastructure that runs them.

::

    clock.py      SimClock: the one clock, read from ``env.now``
    latency.py    latency models (parametric, empirical) and the LatencyBook registry
    calibrate.py  measure real tiers and save samples a LatencyBook loads
    scenario.py   flat dotted-key scenarios: defaults, validation, coercion
    runner.py     the model registry and ``run_model``
    compare.py    sim-vs-real (and sim-vs-sim noise floor) comparison
    sweep.py      grid sweeps on serial or dask.distributed executors
    models/       one module per diagram

Fault windows (``faults.<target>.*`` scenario keys) are the real fault tools' own
:class:`supreme.resilience.fault_schedule.FaultSchedule`.

Driving real components from SimPy: give them a :class:`sim.clock.SimClock` so
their timestamps and timeouts read simulated time, call them synchronously from
a SimPy process, and charge the I/O they would have done by yielding
``env.timeout(book.sample("L2.get", rng))``.
"""

from __future__ import annotations

from sim.errors import SimError

__all__ = ["SimError"]
