"""SimClock: the one clock (DESIGN.md rule 2) read from a SimPy environment.

Pattern for driving a real component inside a simulation::

    env = simpy.Environment()
    clock = SimClock(env)
    breaker = CircuitBreaker(clock=clock, ...)      # timestamps/timeouts read env.now

    def request(env):
        if breaker.allow():                           # synchronous, no I/O
            yield env.timeout(book.sample("L2.get", rng))   # the I/O cost, drawn from a model
            breaker.record_success()

Real components only *read* time through ``clock.now()``.  Time passes in
SimPy only when a process yields ``env.timeout(...)``, so ``sleep``/``asleep``
cannot be honoured from inside a component: they raise :class:`SimClockError`
rather than silently returning without advancing time.
"""

from __future__ import annotations

import simpy

from sim.errors import SimError

__all__ = ["SimClock", "SimClockError"]


class SimClockError(SimError, RuntimeError):
    """A component tried to sleep on the simulated clock."""


_SLEEP_HELP = (
    "SimClock cannot sleep: inside SimPy, time passes only when a process yields "
    "env.timeout({s}); restructure the caller as a SimPy process (or give the component "
    "a ManualClock outside the simulation)"
)


class SimClock:
    """``supreme.clock.Clock`` whose ``now()`` is ``env.now`` (seconds)."""

    __slots__ = ("env",)

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env

    def now(self) -> float:
        """Simulated time in seconds."""
        return float(self.env._now)  # the attribute behind the env.now property: one call less per read

    def sleep(self, seconds: float) -> None:
        """Always raises: yield ``env.timeout(seconds)`` from a SimPy process instead."""
        raise SimClockError(_SLEEP_HELP.format(s=seconds))

    async def asleep(self, seconds: float) -> None:
        """Always raises, like :meth:`sleep`."""
        raise SimClockError(_SLEEP_HELP.format(s=seconds))
