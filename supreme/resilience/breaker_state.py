"""The circuit breaker's state machine with resilience4j semantics: pure, no lock, no clock, no I/O.

Reference: resilience4j ``CircuitBreakerStateMachine`` (docs "CircuitBreaker"), and Nygard,
*Release It!* (2007), ch. 5 "Circuit Breaker".  Shape borrowed from h11 ``_state.py``: the legal
transitions are a table, an illegal event raises :class:`IllegalTransition`, every method takes the
time as an argument, and the thread-safe, clocked, logging wrapper is
:class:`supreme.resilience.breaker.CircuitBreaker`.

Pseudocode::

    allow(now):  CLOSED -> permit
                 OPEN   -> if now >= opened_at + wait_duration_in_open: -> HALF_OPEN, continue
                           else refuse
                 HALF_OPEN -> permit while trials_started < permitted_calls_in_half_open
                 FORCED_OPEN -> refuse;   DISABLED -> permit, record nothing
    record(failed, duration, now):
        window.add(failed, slow = duration > slow_call_duration_threshold)
        CLOSED:    if window.calls >= minimum_number_of_calls and
                      (failure_rate >= failure_rate_threshold or slow_rate >= slow_call_rate_threshold)
                   -> THRESHOLD_EXCEEDED (OPEN)
        HALF_OPEN: once permitted_calls_in_half_open outcomes are in: over a threshold -> TRIALS_FAILED
                   (OPEN) else TRIALS_PASSED (CLOSED)
    an ignored exception records nothing: release() gives its half-open trial back

Windows: COUNT keeps the last N outcomes (a ring); TIME keeps one bucket per whole second of clock
time, for the last N seconds.  As in resilience4j, a count window never waits for more calls than it
can hold (``min(minimum_number_of_calls, N)``), every transition starts a fresh window, and the
half-open window is a count window of ``permitted_calls_in_half_open``.

Cost: the count window is a preallocated ring of outcome codes (bit 0 failed, bit 1 slow) with
integer counts; in CLOSED the rates are re-evaluated only when they can have risen: a bad call, the
window first reaching its minimum, or a time window ageing calls out.

Why :meth:`BreakerMachine.record` returns a trigger instead of moving: the caller may skip reading the
clock for a call's end when no duration is needed (a count window that never sees a slow call), so
``now`` there can be a placeholder; the transition is stamped by :meth:`BreakerMachine.move` with a
time the caller reads only when a trigger fired.

Departure: a time window keeps a ring of ``size`` one-second buckets; an outcome whose second has
already left the window (a thread that read its end time before another thread's later call moved the
window on) is not counted.

Exceptions::

    SupremeError
    ├── IllegalTransition       an event that the table does not allow in the current state
    └── BreakerConfigError      (also ValueError) invalid configuration
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from supreme.errors import SupremeError

__all__ = [
    "TRANSITIONS",
    "BreakerConfig",
    "BreakerConfigError",
    "BreakerMachine",
    "CountWindow",
    "IllegalTransition",
    "State",
    "StateTransition",
    "TimeWindow",
    "Trigger",
    "WindowType",
]


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
_CLOSED, _HALF_OPEN, _OPEN = State.CLOSED, State.HALF_OPEN, State.OPEN


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

    def records(self, exc: BaseException) -> bool | None:
        """Whether ``exc`` counts as a failure (False: as a success; None: ignored, counts as nothing)."""
        if isinstance(exc, self.ignore_exceptions):
            return None
        if self.record_exception is not None:
            return bool(self.record_exception(exc))
        return isinstance(exc, self.record_exceptions)


# Outcome codes: bit 0 = failed, bit 1 = slow (so a ring of small ints updates the counts exactly).
_FAILED, _SLOW = 1, 2


class CountWindow:
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
        if old != code:  # the common case, ok replacing ok, touches no count
            ring[i] = code
            if old:
                self.failed -= old & _FAILED
                self.slow -= old >> 1
            if code:
                self.failed += code & _FAILED
                self.slow += code >> 1
        i += 1
        self.pos = 0 if i == self.size else i
        calls = self.calls
        if calls != self.size:
            self.calls = calls = calls + 1
        return calls

    def expire(self, now: float) -> None:
        """Count windows do not age."""


class TimeWindow:
    """One bucket per whole second of clock time, for the last ``size`` seconds (a ring of buckets).

    Bucket ``sec % size`` holds second ``sec``; moving ``head`` (the newest second) forward empties the
    buckets that fall out, at most ``size`` of them however long the gap.  ``stale`` is set when
    expiry removed outcomes, so the machine knows rates may have risen without a bad call.
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


class BreakerMachine:
    """State, window and half-open trial count of one breaker; every method takes the time it runs at.

    Not thread-safe by itself: the caller serialises the calls (the wrapper holds one lock), except
    that reading :attr:`state` is safe at any time (an atomic attribute read).
    """

    __slots__ = ("config", "min_calls_closed", "name", "opened_at", "slow_threshold", "state",
                 "trials_started", "window")

    def __init__(self, name: str, config: BreakerConfig) -> None:
        self.name = name
        self.config = config
        self.state = State.CLOSED
        self.opened_at = 0.0
        self.trials_started = 0
        self.min_calls_closed = (min(config.minimum_number_of_calls, config.sliding_window_size)
                                 if config.sliding_window_type is WindowType.COUNT
                                 else config.minimum_number_of_calls)
        self.slow_threshold = float(config.slow_call_duration_threshold)  # read on every call
        self.window: CountWindow | TimeWindow = self._closed_window()

    # -- permission ----------------------------------------------------------------------------
    def allow(self, now: float) -> tuple[bool, StateTransition | None]:
        """Whether a call may start at ``now`` (a half-open trial is counted if so), and the move made first.

        The move is OPEN -> HALF_OPEN once the wait is over; the call is then judged in HALF_OPEN.
        """
        moved = self.tick(now)
        st = self.state
        if st is _CLOSED or st is State.DISABLED:
            return True, moved
        if st is _HALF_OPEN and self.trials_started < self.config.permitted_calls_in_half_open:
            self.trials_started += 1
            return True, moved
        return False, moved

    def release(self) -> None:
        """Give back a half-open trial that produced no outcome (an ignored or interrupted call)."""
        if self.state is _HALF_OPEN and self.trials_started > 0:
            self.trials_started -= 1

    def tick(self, now: float) -> StateTransition | None:
        """Make the OPEN -> HALF_OPEN move if the wait is over at ``now``."""
        if self.state is _OPEN and now >= self.opened_at + self.config.wait_duration_in_open:
            return self.move(Trigger.WAIT_ELAPSED, now)
        return None

    def retry_after(self, now: float) -> float:
        """Seconds from ``now`` until an OPEN breaker lets a trial through (0 in any other state)."""
        if self.state is not _OPEN:
            return 0.0
        return max(0.0, self.opened_at + self.config.wait_duration_in_open - now)

    # -- outcomes --------------------------------------------------------------------------------
    def record(self, failed: bool, duration: float, now: float) -> Trigger | None:
        """Count one outcome that ended at ``now``; return the trigger it fires (apply it with :meth:`move`).

        ``now`` is used only by a time window.  In DISABLED / OPEN / FORCED_OPEN nothing is counted:
        calls let in before the breaker opened do not count (resilience4j).
        """
        code = _FAILED if failed else 0
        if duration > self.slow_threshold:
            code |= _SLOW
        w = self.window
        if self.state is _CLOSED:
            calls = w.add(code, now)
            # Rates rise only when a bad call arrives, when the window first reaches the minimum, or
            # when a time window aged calls out (``stale``); otherwise skip the check.
            if code or calls == self.min_calls_closed or w.stale:
                w.stale = False
                if calls >= self.min_calls_closed and self._over_threshold():
                    return Trigger.THRESHOLD_EXCEEDED
        elif self.state is _HALF_OPEN and w.add(code, now) >= self.config.permitted_calls_in_half_open:
            return Trigger.TRIALS_FAILED if self._over_threshold() else Trigger.TRIALS_PASSED
        return None

    def _over_threshold(self) -> bool:
        w, cfg = self.window, self.config
        return (100.0 * w.failed / w.calls >= cfg.failure_rate_threshold
                or 100.0 * w.slow / w.calls >= cfg.slow_call_rate_threshold)

    # -- transitions -------------------------------------------------------------------------------
    def move(self, trigger: Trigger, now: float) -> StateTransition:
        """Apply one table entry at ``now``: a fresh window, and the rates the old one ended with."""
        old = self.state
        new = TRANSITIONS.get((old, trigger))
        if new is None:
            raise IllegalTransition(f"circuit breaker {self.name!r}: no transition from {old.value} "
                                    f"on {trigger.value}")
        w = self.window
        fr = 100.0 * w.failed / w.calls if w.calls else -1.0
        sr = 100.0 * w.slow / w.calls if w.calls else -1.0
        self.state = new
        self.trials_started = 0
        if new is _OPEN:
            self.opened_at = now
        self.window = (CountWindow(self.config.permitted_calls_in_half_open) if new is _HALF_OPEN
                       else self._closed_window())
        return StateTransition(self.name, old, new, trigger, now, fr, sr)

    def _closed_window(self) -> CountWindow | TimeWindow:
        cfg = self.config
        if cfg.sliding_window_type is WindowType.TIME:
            return TimeWindow(cfg.sliding_window_size)
        return CountWindow(cfg.sliding_window_size)

    # -- views -------------------------------------------------------------------------------------
    def metrics(self, now: float) -> dict[str, float]:
        """Window counts and rates at ``now`` (rates are -1 until the minimum number of calls is in)."""
        w = self.window
        w.expire(now)
        return {
            "calls": w.calls,
            "failed": w.failed,
            "slow": w.slow,
            "failure_rate": self._rate(w.failed),
            "slow_call_rate": self._rate(w.slow),
            "half_open_trials_started": self.trials_started,
        }

    def _rate(self, n: int) -> float:
        calls = self.window.calls
        need = (self.config.permitted_calls_in_half_open if self.state is _HALF_OPEN
                else self.min_calls_closed)
        if calls == 0 or calls < need:
            return -1.0
        return 100.0 * n / calls
