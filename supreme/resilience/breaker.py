"""Circuit breaker: the thread-safe, clocked, observable wrapper around :mod:`.breaker_state`.

The semantics (resilience4j's states, thresholds and windows, the transition table) live in the pure
:class:`~supreme.resilience.breaker_state.BreakerMachine`.  This module adds what touches the world:
one lock, the injected :class:`~supreme.clock.Clock`, listeners, the monitor, the shared
:class:`~supreme.events.EventLog`, and the ways to guard a call (``call`` / ``acall``, the decorator,
``with`` / ``async with``), which all run the same two steps::

    start = _before()        # permission (CallNotPermitted if refused), start time if a duration is needed
    ... the guarded call ...
    _after(start, exc)       # its outcome: success, a recorded / ignored error, or an interruption

Cost (see ``benchmarks/bench_breaker.py``): a call in CLOSED takes no lock for permission (CLOSED
always permits; the atomic read of the state is the linearisation point) and one plain lock section
for its outcome.  The clock is read twice per call (start, end) when a duration is needed, which is
always unless ``slow_call_duration_threshold`` is ``inf`` (no call can be slow), the window counts
calls and neither monitor nor event log wants it.

Departures: no scheduler thread — with ``automatic_transition_from_open_to_half_open`` the
OPEN -> HALF_OPEN move happens when ``state`` is read or :meth:`CircuitBreaker.tick` runs, so it
behaves identically on a ManualClock or a SimPy clock.  ``transition_to_half_open()`` is used by
recovery (seed: "Recovery complete -> Transition to HALF_OPEN").

Exceptions::

    SupremeError
    ├── CallNotPermitted        the breaker is OPEN / FORCED_OPEN or half-open trials are used up
    ├── IllegalTransition       an event that the table does not allow in the current state
    └── BreakerConfigError      (also ValueError) invalid configuration
"""

from __future__ import annotations

import contextvars
import math
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from supreme.clock import Clock, SystemClock
from supreme.errors import SupremeError
from supreme.events import NULL_LOG, EventLog
from supreme.resilience.breaker_state import (
    BreakerConfig,
    BreakerConfigError,
    BreakerMachine,
    State,
    StateTransition,
    Trigger,
    WindowType,
)
from supreme.resilience.guard import decorate

__all__ = ["BreakerMonitor", "CallNotPermitted", "CircuitBreaker"]

T = TypeVar("T")
FLOW = "circuit_breaker"
COMPONENT = "Circuit_Breaker"


class CallNotPermitted(SupremeError, ConnectionError):
    """The breaker refused the call (open, forced open, or no half-open trial left).

    A ``ConnectionError`` too: to a caller the dependency is unreachable for now, so code that
    degrades on connection errors (the cache manager's tiers) degrades on an open breaker as well.
    """

    def __init__(self, name: str, state: State, retry_after: float | None = None) -> None:
        self.breaker = name
        self.state = state
        self.retry_after = retry_after
        extra = f"; retry after {retry_after:.3f}s" if retry_after is not None else ""
        super().__init__(f"circuit breaker {name!r} is {state.value}: call not permitted{extra}")


class BreakerMonitor(Protocol):
    """What the breaker tells Monitoring (implemented by :class:`supreme.monitoring.metrics.Metrics`)."""

    def breaker_state(self, name: str, state: str) -> None:
        """The breaker is now in ``state``."""
        ...

    def breaker_call(self, name: str, outcome: str, latency: float) -> None:
        """One call finished (``ok``/``error``/``slow``/``rejected``/``ignored``)."""
        ...


# The start times of open ``with breaker:`` blocks, as a linked stack ``(start, previous)`` in a context
# variable, so nested and concurrent blocks in threads and asyncio tasks never see each other's.
_start_times: contextvars.ContextVar[tuple[float | None, Any] | None] = contextvars.ContextVar(
    "breaker_starts", default=None)
_CLOSED = State.CLOSED


class CircuitBreaker:
    """A thread-safe circuit breaker; see :mod:`.breaker_state` for the semantics.

    Locking: one plain (non-reentrant) lock serialises every change of the machine.  A call in CLOSED
    takes it once, to record its outcome; permission in CLOSED needs no lock (CLOSED always permits,
    and reading the state is atomic), so the read is the call's linearisation point exactly as taking
    the lock would be.  Listeners, the monitor and the event-log "call" rows run outside it.
    """

    def __init__(
        self,
        name: str = "default",
        config: BreakerConfig | None = None,
        *,
        clock: Clock | None = None,
        event_log: EventLog = NULL_LOG,
        monitor: BreakerMonitor | None = None,
        record_calls: bool = True,
        **settings: Any,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise BreakerConfigError(f"breaker name must be a non-empty string, got {name!r}")
        if config is not None and settings:
            raise BreakerConfigError("pass either config= or keyword settings, not both")
        try:
            self.config = config if config is not None else BreakerConfig(**settings)
        except TypeError as exc:
            raise BreakerConfigError(f"unknown circuit breaker setting: {exc}") from exc
        self.name = name
        self.clock = clock if clock is not None else SystemClock()
        self.event_log = event_log
        self.monitor = monitor
        self.record_calls = record_calls
        self._lock = threading.Lock()
        self._listeners: list[Callable[[StateTransition], None]] = []
        self._machine = BreakerMachine(name, self.config)
        # an infinite threshold means no call can be slow: durations are then needed only for the
        # time window's buckets, the monitor and the event log
        self._slow_detect = (self.config.sliding_window_type is WindowType.TIME
                             or math.isfinite(self._machine.slow_threshold))
        self.transitions: list[StateTransition] = []
        if monitor is not None:
            monitor.breaker_state(name, State.CLOSED.value)

    @property
    def clock(self) -> Clock:
        """The clock every timeout and duration is read from."""
        return self._clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        self._clock = clock
        self._now = clock.now  # the bound method, looked up once for the hot path

    # -- read-only views --------------------------------------------------------
    @property
    def state(self) -> State:
        """Current state (moves OPEN -> HALF_OPEN first when automatic transition is on)."""
        if self.config.automatic_transition_from_open_to_half_open:
            self.tick()
        return self._machine.state

    def metrics(self) -> dict[str, float]:
        """Window counts and rates (rates are -1 until the minimum number of calls is reached)."""
        with self._lock:
            return self._machine.metrics(self._now())

    def retry_after(self) -> float:
        """Seconds until an OPEN breaker lets a trial through (0 otherwise)."""
        with self._lock:
            return self._machine.retry_after(self._now())

    def add_listener(self, listener: Callable[[StateTransition], None]) -> None:
        """Call ``listener(transition)`` after every state change."""
        self._listeners.append(listener)

    # -- permission and outcome -----------------------------------------------------
    def try_acquire_permission(self) -> bool:
        """True if a call may go ahead now (and counts a half-open trial if so)."""
        if self._machine.state is _CLOSED:
            return True
        with self._lock:
            ok, moved = self._machine.allow(self._now())
            if moved is not None:
                self._log_move(moved)
        if moved is not None:
            self._fire(moved)
        return ok

    def acquire_permission(self) -> None:
        """Raise :class:`CallNotPermitted` unless a call may go ahead now."""
        if self._machine.state is not _CLOSED and not self.try_acquire_permission():
            self._note_call("rejected", 0.0, self._now())
            state = self._machine.state
            raise CallNotPermitted(self.name, state, self.retry_after() if state is State.OPEN else None)

    def release_permission(self) -> None:
        """Give back a half-open trial that produced no outcome (e.g. an ignored exception)."""
        with self._lock:
            self._machine.release()

    def on_success(self, duration: float) -> None:
        """Record a successful call that took ``duration`` seconds."""
        self._record(duration, False, self._now())

    def on_error(self, duration: float, exc: BaseException) -> None:
        """Record a failed call; ignored / unrecorded exceptions count as nothing or as a success."""
        self._on_error(duration, exc, self._now())

    def _on_error(self, duration: float, exc: BaseException, now: float) -> None:
        recorded = self.config.records(exc)
        if recorded is None:
            self.release_permission()
            self._note_call("ignored", duration, now)
        else:
            self._record(duration, recorded, now)

    def _record(self, duration: float, failed: bool, now: float) -> None:
        """Count one outcome; ``now`` is the call's end on the clock (used by the time window)."""
        m = self._machine
        moved: StateTransition | None = None
        # acquire/release rather than ``with``: half the cost, and this section runs on every call
        lock = self._lock
        lock.acquire()
        try:
            trigger = m.record(failed, duration, now)
            if trigger is not None:
                moved = self._move(trigger)
        finally:
            lock.release()
        if self.monitor is not None or (self.record_calls and self.event_log.enabled):
            self._note_call("error" if failed else ("slow" if duration > m.slow_threshold else "ok"),
                            duration, now)
        if moved is not None:
            self._fire(moved)

    # -- the one path every way of guarding a call takes ----------------------------------
    def _before(self) -> float | None:
        """Permission for one call (or :class:`CallNotPermitted`); its start time if a duration is needed."""
        if self._machine.state is not _CLOSED:
            self.acquire_permission()
        if self._slow_detect or self.monitor is not None or (self.record_calls and self.event_log.enabled):
            return self._now()
        return None

    def _after(self, start: float | None, exc: BaseException | None) -> None:
        """Count the outcome of a call :meth:`_before` let in (``exc`` is None if it returned)."""
        if start is None:
            end = duration = 0.0
        else:
            end = self._now()
            duration = end - start
        if exc is None:
            self._record(duration, False, end)
        elif isinstance(exc, Exception):
            self._on_error(duration, exc, end)
        else:  # KeyboardInterrupt / CancelledError say nothing about the dependency
            self.release_permission()

    # -- transitions ---------------------------------------------------------------
    def _move(self, trigger: Trigger) -> StateTransition:
        """Apply one table entry now; caller holds the lock."""
        tr = self._machine.move(trigger, self._now())
        self._log_move(tr)
        return tr

    def _log_move(self, tr: StateTransition) -> None:
        """Keep and log a transition; caller holds the lock, so both follow the machine's order."""
        self.transitions.append(tr)
        old, new = tr.from_state.value, tr.to_state.value
        rates = f"failure_rate={tr.failure_rate:.1f} slow_call_rate={tr.slow_call_rate:.1f}"
        self.event_log.record(tr.time, FLOW, COMPONENT, "transition", new, key=self.name,
                              detail=f"{old}->{new} on {tr.trigger.value}; {rates}")

    def _transition(self, trigger: Trigger) -> None:
        with self._lock:
            tr = self._move(trigger)
        self._fire(tr)

    def _fire(self, tr: StateTransition) -> None:
        # outside the lock, so a listener may call back into the breaker
        if self.monitor is not None:
            self.monitor.breaker_state(self.name, tr.to_state.value)
        for listener in list(self._listeners):
            listener(tr)

    def _note_call(self, outcome: str, latency: float, now: float) -> None:
        if self.record_calls:
            self.event_log.record(now, FLOW, COMPONENT, "call", outcome, key=self.name, latency=latency)
        if self.monitor is not None:
            self.monitor.breaker_call(self.name, outcome, latency)

    def tick(self) -> None:
        """Apply the automatic OPEN -> HALF_OPEN move if its wait has elapsed."""
        if self._machine.state is not State.OPEN:
            return  # only OPEN moves on its own; a stale read is re-checked under the lock below
        with self._lock:
            moved = self._machine.tick(self._now())
            if moved is not None:
                self._log_move(moved)
        if moved is not None:
            self._fire(moved)

    def transition_to_half_open(self) -> None:
        """Let trial calls through now (used by recovery after it restored the dependency)."""
        self._transition(Trigger.MANUAL_HALF_OPEN)

    def reset(self) -> None:
        """Back to CLOSED with an empty window."""
        self._transition(Trigger.RESET)

    def force_open(self) -> None:
        """Refuse every call until :meth:`reset` or :meth:`transition_to_half_open`."""
        self._transition(Trigger.FORCE_OPEN)

    def disable(self) -> None:
        """Permit every call and record nothing until :meth:`reset`."""
        self._transition(Trigger.DISABLE)

    # -- ways to guard a call: each is _before / the call / _after -------------------------
    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` under the breaker."""
        start = self._before()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            self._after(start, exc)
            raise
        self._after(start, None)
        return result

    async def acall(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Await ``fn(*args, **kwargs)`` under the breaker."""
        start = self._before()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            self._after(start, exc)
            raise
        self._after(start, None)
        return result

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorate a sync or async function."""
        return decorate(fn, self.call, self.acall)

    def __enter__(self) -> CircuitBreaker:
        _start_times.set((self._before(), _start_times.get()))
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        top = _start_times.get()
        assert top is not None, "CircuitBreaker.__exit__ without __enter__"
        start, rest = top
        _start_times.set(rest)
        self._after(start, exc)

    async def __aenter__(self) -> CircuitBreaker:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self._machine.state.value})"
