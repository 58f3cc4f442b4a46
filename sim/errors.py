"""Errors of the simulation package.

::

    SupremeError
    └── SimError
        ├── sim.clock.SimClockError          (also RuntimeError)
        ├── sim.scenario.ScenarioError       (also ValueError)
        ├── sim.latency.LatencyError         (also ValueError)
        └── sim.runner.UnknownModelError     (also KeyError)
"""

from __future__ import annotations

from supreme.errors import SupremeError

__all__ = ["SimError"]


class SimError(SupremeError):
    """Base of every error ``sim`` raises on purpose."""
