"""Circuit breaker with resilience4j semantics, built as an I/O-free state machine.

Reference: resilience4j ``CircuitBreakerStateMachine`` (docs "CircuitBreaker"), and Nygard,
*Release It!* (2007), ch. 5 "Circuit Breaker".  Shape borrowed from h11 ``_state.py``: the legal
transitions are a table, an illegal event raises :class:`IllegalTransition`, and nothing here does
I/O or reads time except through the injected :class:`~supreme.clock.Clock`.

Pseudocode::

    acquire():   CLOSED -> permit
                 OPEN   -> if now >= opened_at + wait_duration_in_open: -> HALF_OPEN, continue
                           else raise CallNotPermitted
                 HALF_OPEN -> permit while trials_started < permitted_calls_in_half_open
                 FORCED_OPEN -> raise CallNotPermitted;   DISABLED -> permit, record nothing
    record(duration, exc):
        ignored exception -> release the permit, record nothing
        window.add(failed = exc is recorded, slow = duration > slow_call_duration_threshold)
        CLOSED:    if window.calls >= minimum_number_of_calls and
                      (failure_rate >= failure_rate_threshold or slow_rate >= slow_call_rate_threshold)
                   -> OPEN
        HALF_OPEN: once permitted_calls_in_half_open outcomes are in: over a threshold -> OPEN
                   else -> CLOSED

Windows: COUNT keeps the last N outcomes (a ring); TIME keeps one bucket per whole second of clock
time, for the last N seconds.  As in resilience4j, a count window never waits for more calls than it
can hold (``min(minimum_number_of_calls, N)``), every transition starts a fresh window, and the
half-open window is a count window of ``permitted_calls_in_half_open``.

Cost (see ``benchmarks/bench_breaker.py``): a call in CLOSED takes no lock for permission (CLOSED
always permits; the atomic read of the state is the linearisation point) and one plain lock section
for its outcome.  The count window is a preallocated ring of outcome codes (bit 0 failed, bit 1 slow)
with integer counts; in CLOSED the rates are re-evaluated only when they can have risen: a bad call,
the window first reaching its minimum, or a time window ageing calls out.  The clock is read twice per
call (start, end) when a duration is needed, which is always unless ``slow_call_duration_threshold``
is ``inf`` (no call can be slow), the window counts calls and neither monitor nor event log wants it.

Departures: no scheduler thread — with ``automatic_transition_from_open_to_half_open`` the
OPEN -> HALF_OPEN move happens when ``state`` is read or :meth:`CircuitBreaker.tick` runs, so it
behaves identically on a ManualClock or a SimPy clock.  A time window keeps a ring of ``size``
one-second buckets; an outcome whose second has already left the window (a thread that read its end
time before another thread's later call moved the window on) is not counted.
``transition_to_half_open()`` is used by recovery (seed: "Recovery complete -> Transition to HALF_OPEN").

Exceptions::

    SupremeError
    ├── CallNotPermitted        the breaker is OPEN / FORCED_OPEN or half-open trials are used up
    ├── IllegalTransition       an event that the table does not allow in the current state
    └── BreakerConfigError      (also ValueError) invalid configuration
"""

from __future__ import annotations

import contextvars
import enum
import functools
import inspect
import math
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from supreme.clock import Clock, SystemClock
from supreme.errors import SupremeError
from supreme.events import NULL_LOG, EventLog

__all__ = [
    "TRANSITIONS",
    "BreakerConfig",
    "BreakerConfigError",
    "BreakerMonitor",
    "CallNotPermitted",
    "CircuitBreaker",
    "IllegalTransition",
    "State",
    "StateTransition",
    "Trigger",
    "WindowType",
]

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


class IllegalTransition(SupremeError):
    """The transition table has no entry for this (state, trigger)."""


class BreakerConfigError(SupremeError, ValueError):
    """A breaker setting is out of range; the message names it."""


class State(enum.Enum):
    """Breaker states (resilience4j names)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    FORCED_OPEN = "forced_open"
    DISABLED = "disabled"


class Trigger(enum.Enum):
    """Events that move the machine."""

    THRESHOLD_EXCEEDED = "threshold_exceeded"
    WAIT_ELAPSED = "wait_elapsed"
    TRIALS_PASSED = "trials_passed"
    TRIALS_FAILED = "trials_failed"
    MANUAL_HALF_OPEN = "manual_half_open"
    RESET = "reset"
    FORCE_OPEN = "force_open"
    DISABLE = "disable"


class WindowType(enum.Enum):
    """Sliding-window kinds."""

    COUNT = "count"
    TIME = "time"


S, TR = State, Trigger
#: The whole machine: (state, trigger) -> next state.  Anything else is illegal.
TRANSITIONS: dict[tuple[State, Trigger], State] = {
    (S.CLOSED, TR.THRESHOLD_EXCEEDED): S.OPEN,
    (S.OPEN, TR.WAIT_ELAPSED): S.HALF_OPEN,
    (S.OPEN, TR.MANUAL_HALF_OPEN): S.HALF_OPEN,
    (S.HALF_OPEN, TR.TRIALS_PASSED): S.CLOSED,
    (S.HALF_OPEN, TR.TRIALS_FAILED): S.OPEN,
    (S.CLOSED, TR.MANUAL_HALF_OPEN): S.HALF_OPEN,
    (S.FORCED_OPEN, TR.MANUAL_HALF_OPEN): S.HALF_OPEN,
    **{(s, TR.RESET): S.CLOSED for s in State},
    **{(s, TR.FORCE_OPEN): S.FORCED_OPEN for s in State},
    **{(s, TR.DISABLE): S.DISABLED for s in State},
}
del S, TR


@dataclass(frozen=True)
class StateTransition:
    """One move of the machine, handed to listeners."""

    breaker: str
    from_state: State
    to_state: State
    trigger: Trigger
    time: float
    failure_rate: float = -1.0
    slow_call_rate: float = -1.0


class BreakerMonitor(Protocol):
    """What the breaker tells Monitoring (implemented by :class:`supreme.monitoring.metrics.Metrics`)."""

    def breaker_state(self, name: str, state: str) -> None:
        """The breaker is now in ``state``."""
        ...

    def breaker_call(self, name: str, outcome: str, latency: float) -> None:
        """One call finished (``ok``/``error``/``slow``/``rejected``/``ignored``)."""
        ...


ExcPredicate = Callable[[BaseException], bool]


@dataclass(frozen=True)
class BreakerConfig:
    """resilience4j's settings, validated at construction."""

    failure_rate_threshold: float = 50.0
    slow_call_rate_threshold: float = 100.0
    slow_call_duration_threshold: float = 60.0
    sliding_window_type: WindowType = WindowType.COUNT
    sliding_window_size: int = 100
    minimum_number_of_calls: int = 100
    wait_duration_in_open: float = 60.0
    permitted_calls_in_half_open: int = 10
    automatic_transition_from_open_to_half_open: bool = False
    record_exceptions: tuple[type[BaseException], ...] = (Exception,)
    ignore_exceptions: tuple[type[BaseException], ...] = ()
    record_exception: ExcPredicate | None = None

    def __post_init__(self) -> None:
        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise BreakerConfigError(f"invalid circuit breaker config: {msg}")

        for name in ("failure_rate_threshold", "slow_call_rate_threshold"):
            v = getattr(self, name)
            need(isinstance(v, (int, float)) and 0 < v <= 100, f"{name} must be in (0, 100], got {v!r}")
        for name in ("sliding_window_size", "minimum_number_of_calls", "permitted_calls_in_half_open"):
            v = getattr(self, name)
            need(isinstance(v, int) and not isinstance(v, bool) and v >= 1,
                 f"{name} must be an integer >= 1, got {v!r}")
        need(isinstance(self.slow_call_duration_threshold, (int, float))
             and self.slow_call_duration_threshold > 0,
             f"slow_call_duration_threshold must be > 0 seconds, got {self.slow_call_duration_threshold!r}")
        need(isinstance(self.wait_duration_in_open, (int, float)) and self.wait_duration_in_open >= 0,
             f"wait_duration_in_open must be >= 0 seconds, got {self.wait_duration_in_open!r}")
        need(isinstance(self.sliding_window_type, WindowType),
             f"sliding_window_type must be a WindowType, got {self.sliding_window_type!r}")
        for name in ("record_exceptions", "ignore_exceptions"):
            v = getattr(self, name)
            need(isinstance(v, tuple)
                 and all(isinstance(t, type) and issubclass(t, BaseException) for t in v),
                 f"{name} must be a tuple of exception classes, got {v!r}")
        need(self.record_exception is None or callable(self.record_exception),
             "record_exception must be a callable or None")


# Outcome codes: bit 0 = failed, bit 1 = slow (so a ring of small ints updates the counts exactly).
_FAILED, _SLOW = 1, 2


class _CountWindow:
    """The last ``size`` outcomes as a preallocated ring of outcome codes; O(1) per call."""

    __slots__ = ("calls", "failed", "pos", "ring", "size", "slow", "stale")

    def __init__(self, size: int) -> None:
        self.size = size
        self.ring = bytearray(size)  # zeros: an empty slot subtracts nothing when overwritten
        self.pos = 0
        self.calls = self.failed = self.slow = 0
        self.stale = False  # count windows never age; kept so both windows share one interface

    def add(self, code: int, now: float) -> int:
        """Record one outcome code; return the number of calls in the window."""
        ring, i = self.ring, self.pos
        old = ring[i]
        ring[i] = code
        i += 1
        self.pos = 0 if i == self.size else i
        if old:
            self.failed -= old & _FAILED
            self.slow -= old >> 1
        if code:
            self.failed += code & _FAILED
            self.slow += code >> 1
        calls = self.calls
        if calls != self.size:
            self.calls = calls = calls + 1
        return calls

    def expire(self, now: float) -> None:
        """Count windows do not age."""


class _TimeWindow:
    """One bucket per whole second of clock time, for the last ``size`` seconds (a ring of buckets).

    Bucket ``sec % size`` holds second ``sec``; moving ``head`` (the newest second) forward empties the
    buckets that fall out, at most ``size`` of them however long the gap.  ``stale`` is set when
    expiry removed outcomes, so the breaker knows rates may have risen without a bad call.
    """

    __slots__ = ("b_calls", "b_failed", "b_slow", "calls", "failed", "head", "size", "slow", "stale")

    def __init__(self, size: int) -> None:
        self.size = size
        self.b_calls = [0] * size
        self.b_failed = [0] * size
        self.b_slow = [0] * size
        self.head: int | None = None  # newest second seen
        self.calls = self.failed = self.slow = 0
        self.stale = False

    def expire(self, now: float) -> None:
        """Drop the buckets older than ``size`` seconds before ``now``."""
        sec = int(now // 1)
        head = self.head
        if head is None or sec <= head:
            if head is None:
                self.head = sec
            return
        size = self.size
        bc, bf, bs = self.b_calls, self.b_failed, self.b_slow
        for s in range(head + 1, min(sec, head + size) + 1):
            j = s % size
            c = bc[j]
            if c:
                self.calls -= c
                self.failed -= bf[j]
                self.slow -= bs[j]
                bc[j] = bf[j] = bs[j] = 0
                self.stale = True
        self.head = sec

    def add(self, code: int, now: float) -> int:
        """Record one outcome code at ``now``; return the number of calls in the window."""
        self.expire(now)
        sec = int(now // 1)
        head = self.head
        assert head is not None
        if sec <= head - self.size:
            # a racing thread read its clock before another's newer call moved the window on:
            # its second has already left the window, so (as resilience4j) it is not counted
            return self.calls
        j = sec % self.size
        self.b_calls[j] += 1
        self.calls += 1
        if code:
            f, sl = code & _FAILED, code >> 1
            self.b_failed[j] += f
            self.b_slow[j] += sl
            self.failed += f
            self.slow += sl
        return self.calls


# The start times of open ``with breaker:`` blocks, as a linked stack ``(start, previous)`` in a context
# variable, so nested and concurrent blocks in threads and asyncio tasks never see each other's.
_start_times: contextvars.ContextVar[tuple[float, Any] | None] = contextvars.ContextVar(
    "breaker_starts", default=None)
_CLOSED = State.CLOSED


class CircuitBreaker:
    """A thread-safe circuit breaker; see the module docstring for the semantics.

    Locking: one plain (non-reentrant) lock guards the state, the window and the trial count.  A call
    in CLOSED takes it once, to record its outcome; permission in CLOSED needs no lock (CLOSED always
    permits, and reading ``_state`` is atomic), so the read is the call's linearisation point exactly
    as taking the lock would be.  Listeners, the monitor and the event-log "call" rows run outside it.
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
        cfg = self.config
        self.name = name
        self.clock = clock if clock is not None else SystemClock()
        self.event_log = event_log
        self.monitor = monitor
        self.record_calls = record_calls
        self._lock = threading.Lock()
        self._listeners: list[Callable[[StateTransition], None]] = []
        self._state = State.CLOSED
        self._opened_at = 0.0
        self._trials_started = 0
        self._timed = cfg.sliding_window_type is WindowType.TIME
        self._min_calls_closed = self._min_calls()
        # settings read on every call, copied out of the frozen config once
        self._slow_threshold = float(cfg.slow_call_duration_threshold)
        # an infinite threshold means no call can be slow: durations are then needed only for the
        # time window's buckets, the monitor and the event log
        self._slow_detect = self._timed or math.isfinite(self._slow_threshold)
        self._window: _CountWindow | _TimeWindow = self._closed_window()
        self.transitions: list[StateTransition] = []
        if monitor is not None:
            monitor.breaker_state(name, self._state.value)

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
        return self._state

    def metrics(self) -> dict[str, float]:
        """Window counts and rates (rates are -1 until the minimum number of calls is reached)."""
        with self._lock:
            self._window.expire(self._now())
            return {
                "calls": self._window.calls,
                "failed": self._window.failed,
                "slow": self._window.slow,
                "failure_rate": self._rate(self._window.failed),
                "slow_call_rate": self._rate(self._window.slow),
                "half_open_trials_started": self._trials_started,
            }

    def retry_after(self) -> float:
        """Seconds until an OPEN breaker lets a trial through (0 otherwise)."""
        with self._lock:
            if self._state is not State.OPEN:
                return 0.0
            return max(0.0, self._opened_at + self.config.wait_duration_in_open - self._now())

    def add_listener(self, listener: Callable[[StateTransition], None]) -> None:
        """Call ``listener(transition)`` after every state change."""
        self._listeners.append(listener)

    # -- permission and outcome (the core; no I/O) --------------------------------
    def try_acquire_permission(self) -> bool:
        """True if a call may go ahead now (and counts a half-open trial if so)."""
        if self._state is _CLOSED:
            return True
        fired: list[StateTransition] = []
        with self._lock:
            st = self._state
            if st is State.OPEN and self._now() >= self._opened_at + self.config.wait_duration_in_open:
                fired.append(self._move(Trigger.WAIT_ELAPSED))
                st = self._state
            if st is State.CLOSED or st is State.DISABLED:
                ok = True
            elif st is State.HALF_OPEN and self._trials_started < self.config.permitted_calls_in_half_open:
                self._trials_started += 1
                ok = True
            else:
                ok = False
        if fired:
            self._fire(fired)
        return ok

    def acquire_permission(self) -> None:
        """Raise :class:`CallNotPermitted` unless a call may go ahead now."""
        if self._state is not _CLOSED and not self.try_acquire_permission():
            self._note_call("rejected", 0.0, self._now())
            state = self._state
            raise CallNotPermitted(self.name, state, self.retry_after() if state is State.OPEN else None)

    def release_permission(self) -> None:
        """Give back a half-open trial that produced no outcome (e.g. an ignored exception)."""
        with self._lock:
            if self._state is State.HALF_OPEN and self._trials_started > 0:
                self._trials_started -= 1

    def on_success(self, duration: float) -> None:
        """Record a successful call that took ``duration`` seconds."""
        self._record(duration, False, self._now())

    def on_error(self, duration: float, exc: BaseException) -> None:
        """Record a failed call; ignored / unrecorded exceptions count as success or nothing."""
        self._on_error(duration, exc, self._now())

    def _on_error(self, duration: float, exc: BaseException, now: float) -> None:
        if isinstance(exc, self.config.ignore_exceptions):
            self.release_permission()
            self._note_call("ignored", duration, now)
            return
        if self.config.record_exception is not None:
            recorded = bool(self.config.record_exception(exc))
        else:
            recorded = isinstance(exc, self.config.record_exceptions)
        self._record(duration, recorded, now)

    def _on_raise(self, exc: BaseException, duration: float, now: float) -> None:
        if isinstance(exc, Exception):
            self._on_error(duration, exc, now)
        else:  # KeyboardInterrupt / CancelledError say nothing about the dependency
            self.release_permission()

    def _record(self, duration: float, failed: bool, now: float) -> None:
        """Count one outcome; ``now`` is the call's end on the clock (used by the time window)."""
        code = _FAILED if failed else 0
        if duration > self._slow_threshold:
            code |= _SLOW
        fired: StateTransition | None = None
        # acquire/release rather than ``with``: half the cost, and this section runs on every call
        lock = self._lock
        lock.acquire()
        try:
            w = self._window
            if self._state is _CLOSED:
                if type(w) is _CountWindow:
                    # _CountWindow.add inlined: this is the hot path of every call
                    ring, i = w.ring, w.pos
                    old = ring[i]
                    if old != code:
                        ring[i] = code
                        if old:
                            w.failed -= old & _FAILED
                            w.slow -= old >> 1
                        if code:
                            w.failed += code & _FAILED
                            w.slow += code >> 1
                    i += 1
                    w.pos = 0 if i == w.size else i
                    calls = w.calls
                    if calls != w.size:
                        w.calls = calls = calls + 1
                else:
                    calls = w.add(code, now)
                # Rates rise only when a bad call arrives, when the window first reaches the minimum,
                # or when a time window aged calls out (``stale``); otherwise skip the check.
                if code or calls == self._min_calls_closed or w.stale:
                    w.stale = False
                    if calls >= self._min_calls_closed and self._over_threshold():
                        fired = self._move(Trigger.THRESHOLD_EXCEEDED)
            elif (self._state is State.HALF_OPEN
                  and w.add(code, now) >= self.config.permitted_calls_in_half_open):
                fired = self._move(Trigger.TRIALS_FAILED if self._over_threshold()
                                   else Trigger.TRIALS_PASSED)
            # DISABLED / OPEN / FORCED_OPEN: calls let in before the breaker opened do not count
            # (resilience4j)
        finally:
            lock.release()
        if self.monitor is not None or (self.record_calls and self.event_log.enabled):
            self._note_call("error" if failed else ("slow" if code else "ok"), duration, now)
        if fired is not None:
            self._fire((fired,))

    def _min_calls(self) -> int:
        cfg = self.config
        if cfg.sliding_window_type is WindowType.COUNT:
            return min(cfg.minimum_number_of_calls, cfg.sliding_window_size)
        return cfg.minimum_number_of_calls

    def _rate(self, n: int) -> float:
        calls = self._window.calls
        half = self._state is State.HALF_OPEN
        need = self.config.permitted_calls_in_half_open if half else self._min_calls()
        if calls == 0 or calls < need:
            return -1.0
        return 100.0 * n / calls

    def _over_threshold(self) -> bool:
        w, cfg = self._window, self.config
        return (100.0 * w.failed / w.calls >= cfg.failure_rate_threshold
                or 100.0 * w.slow / w.calls >= cfg.slow_call_rate_threshold)

    # -- transitions ---------------------------------------------------------------
    def _closed_window(self) -> _CountWindow | _TimeWindow:
        cfg = self.config
        if cfg.sliding_window_type is WindowType.TIME:
            return _TimeWindow(cfg.sliding_window_size)
        return _CountWindow(cfg.sliding_window_size)

    def _move(self, trigger: Trigger) -> StateTransition:
        """Apply one table entry; caller holds the lock."""
        old = self._state
        new = TRANSITIONS.get((old, trigger))
        if new is None:
            raise IllegalTransition(f"circuit breaker {self.name!r}: no transition from {old.value} "
                                    f"on {trigger.value}")
        now = self._now()
        w = self._window
        fr = 100.0 * w.failed / w.calls if w.calls else -1.0
        sr = 100.0 * w.slow / w.calls if w.calls else -1.0
        self._state = new
        self._trials_started = 0
        if new is State.OPEN:
            self._opened_at = now
        self._window = (_CountWindow(self.config.permitted_calls_in_half_open) if new is State.HALF_OPEN
                        else self._closed_window())
        tr = StateTransition(self.name, old, new, trigger, now, fr, sr)
        self.transitions.append(tr)
        self.event_log.record(now, FLOW, COMPONENT, "transition", new.value, key=self.name,
                              detail=f"{old.value}->{new.value} on {trigger.value}; "
                                     f"failure_rate={fr:.1f} slow_call_rate={sr:.1f}")
        return tr

    def _transition(self, trigger: Trigger) -> None:
        with self._lock:
            tr = self._move(trigger)
        self._fire((tr,))

    def _fire(self, fired: Iterable[StateTransition]) -> None:
        # outside the lock, so a listener may call back into the breaker
        for tr in fired:
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
        if self._state is not State.OPEN:
            return  # only OPEN moves on its own; a stale read is re-checked under the lock below
        fired: list[StateTransition] = []
        with self._lock:
            if (self._state is State.OPEN
                    and self._now() >= self._opened_at + self.config.wait_duration_in_open):
                fired.append(self._move(Trigger.WAIT_ELAPSED))
        if fired:
            self._fire(fired)

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

    # -- ways to wrap a call -----------------------------------------------------------
    # The hot path: no lock for permission in CLOSED, the clock read twice only when a duration is
    # needed (slow-call detection, a time window, the monitor or the event log), one lock section
    # for the outcome.
    def _timing(self) -> bool:
        return self._slow_detect or self.monitor is not None or (self.record_calls and self.event_log.enabled)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` under the breaker."""
        if self._state is not _CLOSED:
            self.acquire_permission()
        if self._slow_detect or self._timing():
            now = self._now
            start = now()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                end = now()
                self._on_raise(exc, end - start, end)
                raise
            end = now()
            self._record(end - start, False, end)
            return result
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            self._on_raise(exc, 0.0, 0.0)
            raise
        self._record(0.0, False, 0.0)
        return result

    async def acall(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Await ``fn(*args, **kwargs)`` under the breaker."""
        self.acquire_permission()
        timing = self._slow_detect or self._timing()
        now = self._now
        start = now() if timing else 0.0
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            end = now() if timing else 0.0
            self._on_raise(exc, end - start, end)
            raise
        end = now() if timing else 0.0
        self._record(end - start, False, end)
        return result

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorate a sync or async function."""
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                return await self.acall(fn, *args, **kwargs)
            return awrapper

        # the body of :meth:`call`, repeated so a decorated call costs one Python frame, not two
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self._state is not _CLOSED:
                self.acquire_permission()
            if self._slow_detect or self._timing():
                now = self._now
                start = now()
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    end = now()
                    self._on_raise(exc, end - start, end)
                    raise
                end = now()
                self._record(end - start, False, end)
                return result
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                self._on_raise(exc, 0.0, 0.0)
                raise
            self._record(0.0, False, 0.0)
            return result
        return wrapper

    def __enter__(self) -> CircuitBreaker:
        if self._state is not _CLOSED:
            self.acquire_permission()
        _start_times.set((self._now() if self._slow_detect or self._timing() else 0.0,
                          _start_times.get()))
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        top = _start_times.get()
        assert top is not None, "CircuitBreaker.__exit__ without __enter__"
        start, rest = top
        _start_times.set(rest)
        if self._slow_detect or self._timing():
            end = self._now()
            duration = end - start
        else:
            end = duration = 0.0
        if exc is None:
            self._record(duration, False, end)
        else:
            self._on_raise(exc, duration, end)

    async def __aenter__(self) -> CircuitBreaker:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self._state.value})"
