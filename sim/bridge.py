"""Run synchronous real code inside SimPy: its I/O waits and sleeps become SimPy timeouts.

Models whose real components call ``clock.sleep`` (``Retry``'s backoff) or are synchronous end to
end (``CacheManager``, ``AuthService``, ``ErrorRecovery``) run those calls through an
:class:`IoBridge`, so the real objects are driven whole rather than re-implemented (DESIGN.md rule 1).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator
from typing import Any

import simpy

from sim.clock import SimClock, SimClockError
from sim.errors import SimError

__all__ = ["BridgeClock", "BridgeError", "IoBridge"]


class BridgeError(SimError, RuntimeError):
    """A bridged call stopped answering (e.g. it blocked on a lock held across a simulated wait)."""


class _Cancelled(BaseException):
    """Raised inside a worker whose simulation ended while it waited."""


_GO, _CANCEL = object(), object()


class _Channel:
    __slots__ = ("back", "done", "out")

    def __init__(self) -> None:
        self.out: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.back: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.done = False


class IoBridge:
    """Runs synchronous real code in a worker thread whose I/O waits are SimPy timeouts.

    ``result = yield from bridge.call(fn, *args)`` inside a SimPy process starts ``fn`` in a worker
    thread and blocks the simulation until the worker either finishes or calls :meth:`wait`; a wait
    becomes ``env.timeout(seconds)``, after which the worker resumes.  Exactly one thread runs at a
    time (strict hand-off), so a run is as deterministic as plain SimPy, and other processes do
    interleave during the waits, as they would in the real service.  Real code must not hold a lock
    across a simulated wait that another bridged call needs: the hand-off would deadlock, which is
    reported as :class:`BridgeError` after ``timeout`` real seconds.
    """

    def __init__(self, env: simpy.Environment, timeout: float = 30.0) -> None:
        self.env = env
        self.timeout = timeout
        self._local = threading.local()
        self._live: set[_Channel] = set()

    def in_worker(self) -> bool:
        """True when called from a bridged worker thread."""
        return getattr(self._local, "chan", None) is not None

    def wait(self, seconds: float) -> None:
        """Inside a bridged call: let ``seconds`` of simulated time pass (the I/O cost)."""
        chan: _Channel | None = getattr(self._local, "chan", None)
        if chan is None:
            raise SimClockError("IoBridge.wait outside a bridged call: run the caller with "
                                "`yield from bridge.call(fn)` inside a SimPy process")
        chan.out.put(("wait", max(0.0, float(seconds))))
        if chan.back.get() is _CANCEL:
            raise _Cancelled

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Generator[simpy.Event, Any, Any]:
        """Run ``fn(*args, **kwargs)`` in a worker; returns its value or raises its exception."""
        chan = _Channel()
        self._live.add(chan)

        def target() -> None:
            self._local.chan = chan
            try:
                chan.out.put(("done", fn(*args, **kwargs)))
            except _Cancelled:
                return
            except BaseException as exc:  # handed to the SimPy process, which re-raises it
                chan.out.put(("raise", exc))

        worker = threading.Thread(target=target, name="sim-io", daemon=True)
        worker.start()
        try:
            while True:
                try:
                    kind, value = chan.out.get(timeout=self.timeout)
                except queue.Empty:
                    raise BridgeError(f"bridged call {getattr(fn, '__name__', fn)!r} gave no answer within "
                                      f"{self.timeout}s: a lock held across a simulated wait?") from None
                if kind == "wait":
                    yield self.env.timeout(value)
                    chan.back.put(_GO)
                    continue
                chan.done = True
                worker.join()
                if kind == "raise":
                    raise value
                return value
        finally:
            if not chan.done:  # the simulation ended (or was torn down) while the worker waited
                chan.back.put(_CANCEL)
            self._live.discard(chan)

    def close(self) -> None:
        """Cancel every worker still waiting (call after ``env.run``)."""
        for chan in list(self._live):
            chan.back.put(_CANCEL)
        self._live.clear()


class BridgeClock(SimClock):
    """A SimClock whose ``sleep`` inside a bridged call is a SimPy timeout (elsewhere it raises)."""

    __slots__ = ("bridge",)

    def __init__(self, env: simpy.Environment, bridge: IoBridge) -> None:
        super().__init__(env)
        self.bridge = bridge

    def sleep(self, seconds: float) -> None:
        """Simulated sleep of a bridged worker (e.g. ``Retry``'s backoff)."""
        if not self.bridge.in_worker():
            super().sleep(seconds)
        self.bridge.wait(seconds)
