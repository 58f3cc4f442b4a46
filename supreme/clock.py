"""The one clock (DESIGN.md rule 2).

Nothing in ``supreme`` or ``sim`` reads wall time or sleeps except through a
:class:`Clock`.  Breaker timeouts, token refills, session expiry, TTLs, replay
"as of" queries and the learning cycle all call ``clock.now()``, so the same
objects behave identically under a real clock, a hand-driven clock in unit
tests and the SimPy clock of ``sim/`` (whose ``now()`` is ``env.now``).

Time is a float of **seconds**.  :class:`SystemClock` reports seconds since the
Unix epoch, but advances monotonically (wall time is read once, then the
monotonic counter is added), so an NTP step cannot make a breaker timeout run
backwards.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "ScaledClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Source of time for every component: ``now()`` in seconds, ``sleep()``."""

    def now(self) -> float:
        """Current time in seconds."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block (or, for simulated clocks, advance) for ``seconds``."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Async variant of :meth:`sleep`."""
        ...


class SystemClock:
    """Real time: epoch seconds that never run backwards."""

    def __init__(self) -> None:
        self._wall0 = time.time()
        self._mono0 = time.perf_counter()

    def now(self) -> float:
        """Epoch seconds, advanced by the monotonic counter."""
        return self._wall0 + (time.perf_counter() - self._mono0)

    def sleep(self, seconds: float) -> None:
        """Sleep in real time."""
        if seconds > 0:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        """Sleep in real time without blocking the event loop."""
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that moves only when told to; ``sleep`` advances it instantly.

    Thread-safe, so a test can drive components used from several threads.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._t = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        """Current manual time."""
        return self._t

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError(f"ManualClock cannot go backwards (advance by {seconds})")
        with self._lock:
            self._t += seconds
            return self._t

    def set(self, t: float) -> None:
        """Jump to absolute time ``t`` (must not be earlier than now)."""
        with self._lock:
            if t < self._t:
                raise ValueError(f"ManualClock cannot go backwards ({t} < {self._t})")
            self._t = float(t)

    def sleep(self, seconds: float) -> None:
        """Advance instead of sleeping."""
        if seconds > 0:
            self.advance(seconds)

    async def asleep(self, seconds: float) -> None:
        """Advance instead of sleeping, yielding to the loop once."""
        self.sleep(seconds)
        await asyncio.sleep(0)


class ScaledClock:
    """Market time driven by a base clock at ``speed`` times real time.

    ``now() = start + speed * (base.now() - base_start)``.  Used by replay:
    ``supreme replay --speed 60`` plays an hour of candles in a minute.
    """

    def __init__(self, start: float, speed: float = 1.0, base: Clock | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self._base: Clock = base if base is not None else SystemClock()
        self._start = float(start)
        self._base0 = self._base.now()
        self.speed = float(speed)

    def now(self) -> float:
        """Scaled time."""
        return self._start + self.speed * (self._base.now() - self._base0)

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of scaled time (``seconds / speed`` of base time)."""
        self._base.sleep(seconds / self.speed)

    async def asleep(self, seconds: float) -> None:
        """Async sleep in scaled time."""
        await self._base.asleep(seconds / self.speed)
