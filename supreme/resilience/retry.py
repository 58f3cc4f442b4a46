"""Retry with capped exponential backoff and full jitter, composed with the circuit breaker.

Reference: Marc Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog (2015) —
the "Full Jitter" variant.  Seed diagram "Circuit Breaker Failure Recovery": below the failure
threshold the caller retries with backoff; once the breaker opens, retrying stops.

Pseudocode::

    start = clock.now()
    for attempt in 0 .. max_attempts-1:
        try: return breaker.call(fn) if breaker else fn()
        except CallNotPermitted: raise                      # never retry into an open breaker
        except e:
            if not retryable(e) or attempt == max_attempts-1: raise e
            if breaker is OPEN now: raise CallNotPermitted from e
            sleep = rng.uniform(0, min(cap, base * 2**attempt))
            if deadline and clock.now() + sleep - start > deadline: raise e  (as RetryDeadlineExceeded)
            clock.sleep(sleep)

The schedule is public and pure, so a SimPy model can take the same delays without threads or sleeping:
:func:`full_jitter` (one delay from a given RNG), :meth:`Retry.next_delay` (the policy's base and cap) and
:meth:`Retry.schedule` (every delay the policy would sleep, drawn from a copy of its RNG)::

    for delay in retry.schedule():      # max_attempts - 1 delays; retry.rng is not advanced
        yield env.timeout(delay)

Departures: the deadline is checked *before* sleeping, so a retry that could not start before the
deadline is not slept for.  All sleeping goes through the injected clock, so a ManualClock or the
SimPy clock sees exactly the same delays for the same seed.

Exceptions::

    SupremeError
    └── RetryError
        ├── RetryExhausted          (only with reraise=False) every attempt failed
        └── RetryDeadlineExceeded   the next retry would end after the overall deadline
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from supreme.clock import Clock, SystemClock
from supreme.errors import SupremeError
from supreme.events import NULL_LOG, EventLog
from supreme.resilience.breaker import CallNotPermitted, CircuitBreaker
from supreme.resilience.breaker_state import State
from supreme.resilience.guard import decorate

__all__ = ["Retry", "RetryDeadlineExceeded", "RetryError", "RetryExhausted", "full_jitter"]

T = TypeVar("T")


class RetryError(SupremeError):
    """Retrying gave up; ``last`` is the final underlying error, ``attempts`` how many ran."""

    def __init__(self, message: str, attempts: int, last: BaseException | None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.last = last


class RetryExhausted(RetryError):
    """Every attempt failed (raised only when ``reraise=False``)."""


class RetryDeadlineExceeded(RetryError):
    """The overall deadline would pass before the next attempt."""


def full_jitter(attempt: int, rng: random.Random, base: float, cap: float) -> float:
    """Brooker's full-jitter delay before retry ``attempt`` (0 = the first): ``U(0, min(cap, base*2^a))``.

    Pure apart from drawing one number from ``rng``.
    """
    if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 0:
        raise ValueError(f"attempt must be an integer >= 0, got {attempt!r}")
    # 2.0 ** attempt overflows past 1023; by then the cap has long applied
    return rng.uniform(0.0, min(cap, base * 2.0 ** min(attempt, 1023)))


def _default_retryable(exc: BaseException) -> bool:
    """Retry any error except programming errors (bad arguments) and a refusing breaker."""
    return isinstance(exc, Exception) and not isinstance(
        exc, (CallNotPermitted, ValueError, TypeError, KeyError, AttributeError))


class Retry:
    """A retry policy; call :meth:`call` / :meth:`acall`, or use it as a decorator."""

    def __init__(
        self,
        max_attempts: int = 3,
        base: float = 0.05,
        cap: float = 2.0,
        *,
        deadline: float | None = None,
        retryable: Callable[[BaseException], bool] = _default_retryable,
        seed: int | random.Random = 0,
        clock: Clock | None = None,
        breaker: CircuitBreaker | None = None,
        reraise: bool = True,
        event_log: EventLog = NULL_LOG,
        name: str = "retry",
    ) -> None:
        if not isinstance(max_attempts, int) or isinstance(max_attempts, bool) or max_attempts < 1:
            raise ValueError(f"max_attempts must be an integer >= 1, got {max_attempts!r}")
        if not base > 0 or not cap > 0:
            raise ValueError(f"backoff base and cap must be > 0 seconds, got base={base!r} cap={cap!r}")
        if deadline is not None and not deadline > 0:
            raise ValueError(f"deadline must be > 0 seconds or None, got {deadline!r}")
        self.max_attempts = max_attempts
        self.base = float(base)
        self.cap = float(cap)
        self.deadline = deadline
        self.retryable = retryable
        self.rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.breaker = breaker
        self.reraise = reraise
        self.event_log = event_log
        self.name = name
        #: every delay slept, in order (for tests, notebooks and the event log)
        self.delays: deque[float] = deque(maxlen=10_000)

    def backoff(self, attempt: int) -> float:
        """Full-jitter delay before retry number ``attempt`` (0 = the first retry), from the policy's RNG."""
        return full_jitter(attempt, self.rng, self.base, self.cap)

    def next_delay(self, attempt: int, rng: random.Random) -> float:
        """The delay before retry ``attempt`` drawn from ``rng`` (the policy's own RNG is not touched)."""
        return full_jitter(attempt, rng, self.base, self.cap)

    def schedule(self, rng: random.Random | None = None) -> Iterator[float]:
        """The ``max_attempts - 1`` delays this policy would sleep if every attempt failed.

        With no ``rng`` they are drawn from a copy of the policy's RNG in its current state, so they are
        exactly the delays :meth:`call` would sleep next (deadline permitting), and ``self.rng`` does not
        advance.  Pure: nothing sleeps, nothing is logged.
        """
        if rng is None:
            rng = random.Random()
            rng.setstate(self.rng.getstate())
        for attempt in range(self.max_attempts - 1):
            yield full_jitter(attempt, rng, self.base, self.cap)

    def _decide(self, attempt: int, exc: Exception, start: float) -> float:
        """Delay before the next attempt, or raise to stop retrying."""
        now = self.clock.now()
        if isinstance(exc, CallNotPermitted):
            self._log(now, "rejected", attempt, "breaker open")
            raise exc
        if not self.retryable(exc):
            self._log(now, "error", attempt, f"not retryable: {type(exc).__name__}")
            raise exc
        if self.breaker is not None and self.breaker.state in (State.OPEN, State.FORCED_OPEN):
            self._log(now, "rejected", attempt, "breaker opened; retry stopped")
            raise CallNotPermitted(self.breaker.name, self.breaker.state, self.breaker.retry_after()) from exc
        if attempt + 1 >= self.max_attempts:
            self._log(now, "exhausted", attempt, f"{type(exc).__name__}: {exc}")
            if self.reraise:
                raise exc
            raise RetryExhausted(f"{self.name}: all {self.max_attempts} attempts failed; last error "
                                 f"{type(exc).__name__}: {exc}", attempt + 1, exc) from exc
        delay = self.backoff(attempt)
        if self.deadline is not None and now + delay - start > self.deadline:
            self._log(now, "deadline", attempt,
                      f"next retry at +{now + delay - start:.3f}s > {self.deadline}s")
            raise RetryDeadlineExceeded(
                f"{self.name}: deadline of {self.deadline}s would pass before retry {attempt + 1}; last "
                f"error {type(exc).__name__}: {exc}", attempt + 1, exc) from exc
        self.delays.append(delay)
        self._log(now, "retry", attempt, f"{type(exc).__name__}; sleep {delay:.6f}s")
        return delay

    def _log(self, now: float, outcome: str, attempt: int, detail: str) -> None:
        self.event_log.record(now, "circuit_breaker", "Error_Recovery", "retry", outcome,
                              key=self.name, detail=f"attempt {attempt + 1}: {detail}")

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` with retries."""
        start = self.clock.now()
        attempt = 0
        breaker = self.breaker
        while True:
            try:
                if breaker is not None:
                    return breaker.call(fn, *args, **kwargs)
                return fn(*args, **kwargs)
            except Exception as exc:
                delay = self._decide(attempt, exc, start)
            self.clock.sleep(delay)
            attempt += 1

    async def acall(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Await ``fn`` with retries (sleeping with ``clock.asleep``)."""
        start = self.clock.now()
        attempt = 0
        while True:
            try:
                if self.breaker is not None:
                    return await self.breaker.acall(fn, *args, **kwargs)
                return await fn(*args, **kwargs)
            except Exception as exc:
                delay = self._decide(attempt, exc, start)
            await self.clock.asleep(delay)
            attempt += 1

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorate a sync or async function."""
        return decorate(fn, self.call, self.acall)
