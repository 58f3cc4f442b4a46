"""Error recovery: escalating per-dependency procedures, then HALF_OPEN or human escalation.

Seed diagrams "Circuit Breaker Failure Recovery" (Error_Recovery: restart/reconnect -> breaker to
HALF_OPEN, else escalate to Monitoring) and "Fault Injection Testing" (Recovery_System: attempt
reconnection -> failed -> escalate strategy -> failover -> test circuit).

Pseudocode::

    recover(dependency, breaker):
        for proc in procedures[dependency] sorted by (stage, registration order):   # reconnect < failover
            try: proc.fn(); ok = result is not False
            except Exception: ok = False
            if ok: breaker.transition_to_half_open() (if OPEN/FORCED_OPEN); return success
        escalate(context)            # AlertManager / Monitoring: a human must act
        return failure

The procedures below are generic and act on the real libraries: :func:`redis_reconnect`
(``connection_pool.disconnect()`` then ``PING``), :func:`pg_pool_check` (``pool.check()`` then a
``SELECT 1``), :meth:`ReplaceablePool.replace` (a fresh psycopg pool), and :class:`Failover`
(switch to the next healthy candidate — a secondary Redis URL, or the next cache tier).
No procedure sleeps; none reads the clock except to stamp events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from supreme.clock import Clock, SystemClock
from supreme.errors import SupremeError
from supreme.events import NULL_LOG, EventLog
from supreme.resilience.breaker import CircuitBreaker
from supreme.resilience.breaker_state import State

__all__ = [
    "STAGES",
    "ErrorRecovery",
    "Escalation",
    "Failover",
    "Procedure",
    "RecoveryFailed",
    "RecoveryResult",
    "ReplaceablePool",
    "pg_pool_check",
    "redis_reconnect",
]

T = TypeVar("T")
#: Escalating order of procedure kinds.
STAGES: tuple[str, ...] = ("reconnect", "restart", "failover")


class RecoveryFailed(SupremeError):
    """Every recovery procedure of a dependency failed (see ``result.attempts``)."""

    def __init__(self, result: RecoveryResult) -> None:
        self.result = result
        tried = ", ".join(f"{n}: {e}" for n, _, e in result.attempts) or "no procedure registered"
        super().__init__(f"recovery of {result.dependency!r} failed ({tried})")


class Escalation(Protocol):
    """Where a failed recovery goes (an :class:`~supreme.monitoring.alerts.AlertManager`)."""

    def escalate(self, component: str, message: str, *, key: str | None = None,
                 context: dict[str, Any] | None = None) -> Any:
        """Open or update a critical incident."""
        ...


@dataclass(frozen=True)
class Procedure:
    """One recovery step for a dependency."""

    name: str
    fn: Callable[[], Any]
    stage: str = "reconnect"


@dataclass
class RecoveryResult:
    """What :meth:`ErrorRecovery.recover` did."""

    dependency: str
    succeeded: bool
    procedure: str | None
    attempts: list[tuple[str, bool, str]] = field(default_factory=list)  # (name, ok, error)
    escalated: bool = False
    started: float = 0.0
    finished: float = 0.0


class ErrorRecovery:
    """Registry of recovery procedures per dependency, tried in escalating order."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        event_log: EventLog = NULL_LOG,
        escalation: Escalation | None = None,
        flow: str = "circuit_breaker",
        component: str = "Error_Recovery",
    ) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.event_log = event_log
        self.escalation = escalation
        self.flow = flow
        self.component = component
        self._procs: dict[str, list[Procedure]] = {}
        self._lock = threading.Lock()  # one recovery per dependency at a time
        self._running: set[str] = set()
        self.history: list[RecoveryResult] = []

    def register(self, dependency: str, name: str, fn: Callable[[], Any], stage: str = "reconnect") -> None:
        """Add a procedure; ``fn()`` returning ``False`` or raising means it failed."""
        if stage not in STAGES:
            raise ValueError(f"recovery stage must be one of {STAGES}, got {stage!r}")
        if not callable(fn):
            raise TypeError(f"recovery procedure {name!r} is not callable")
        procs = self._procs.setdefault(dependency, [])
        procs.append(Procedure(name, fn, stage))
        procs.sort(key=lambda p: STAGES.index(p.stage))  # stable: registration order within a stage

    def procedures(self, dependency: str) -> list[Procedure]:
        """The procedures of ``dependency`` in the order they are tried."""
        return list(self._procs.get(dependency, ()))

    def _log(self, op: str, outcome: str, dependency: str, detail: str = "", latency: float = 0.0) -> None:
        self.event_log.record(self.clock.now(), self.flow, self.component, op, outcome,
                              key=dependency, detail=detail or None, latency=latency)

    def recover(self, dependency: str, breaker: CircuitBreaker | None = None,
                context: dict[str, Any] | None = None) -> RecoveryResult:
        """Try each procedure until one works; then HALF_OPEN the breaker, else escalate."""
        with self._lock:
            if dependency in self._running:
                self._log("recover", "skipped", dependency, "recovery already running")
                return RecoveryResult(dependency, False, None, started=self.clock.now(),
                                      finished=self.clock.now())
            self._running.add(dependency)
        try:
            return self._recover(dependency, breaker, context or {})
        finally:
            with self._lock:
                self._running.discard(dependency)

    def _recover(self, dependency: str, breaker: CircuitBreaker | None,
                 context: dict[str, Any]) -> RecoveryResult:
        result = RecoveryResult(dependency, False, None, started=self.clock.now())
        self._log("recover", "start", dependency)
        for proc in self.procedures(dependency):
            t0 = self.clock.now()
            try:
                ok = proc.fn() is not False
                err = "" if ok else "returned False"
            except Exception as exc:  # a failing procedure is an expected outcome here
                ok, err = False, f"{type(exc).__name__}: {exc}"
            result.attempts.append((proc.name, ok, err))
            self._log(proc.stage, "ok" if ok else "error", dependency, f"{proc.name} {err}".strip(),
                      self.clock.now() - t0)
            if ok:
                result.succeeded, result.procedure = True, proc.name
                break
        result.finished = self.clock.now()
        if result.succeeded:
            if breaker is not None and breaker.state in (State.OPEN, State.FORCED_OPEN):
                breaker.transition_to_half_open()
            self._log("recover", "ok", dependency, f"by {result.procedure}",
                      result.finished - result.started)
        else:
            self._log("escalate", "error", dependency, "; ".join(f"{n}: {e}" for n, _, e in result.attempts))
            if self.escalation is not None:
                ctx = {**context, "dependency": dependency,
                       "attempts": [f"{n}: {e}" for n, _, e in result.attempts],
                       "breaker_state": breaker.state.value if breaker is not None else None}
                self.escalation.escalate(self.component, f"automatic recovery of {dependency!r} failed",
                                         key=dependency, context=ctx)
                result.escalated = True
        self.history.append(result)
        return result

    def recover_or_raise(self, dependency: str, breaker: CircuitBreaker | None = None,
                         context: dict[str, Any] | None = None) -> RecoveryResult:
        """Like :meth:`recover`, raising :class:`RecoveryFailed` when nothing worked."""
        result = self.recover(dependency, breaker, context)
        if not result.succeeded:
            raise RecoveryFailed(result)
        return result


# -- generic procedures over the real libraries ----------------------------------------------------
def redis_reconnect(client: Any) -> Callable[[], bool]:
    """Procedure: drop the idle pooled redis-py connections, then PING on a fresh one."""
    def run() -> bool:
        # idle connections only: closing one a request thread is reading breaks redis-py mid-read
        client.connection_pool.disconnect(inuse_connections=False)
        return bool(client.ping())
    run.__name__ = "redis_reconnect"
    return run


def pg_pool_check(pool: Any, timeout: float = 1.0) -> Callable[[], bool]:
    """Procedure: ``pool.check()`` (drops dead connections, refills) then ``SELECT 1``."""
    def run() -> bool:
        pool.check()
        with pool.connection(timeout=timeout) as conn:
            return conn.execute("SELECT 1").fetchone()[0] == 1
    run.__name__ = "pg_pool_check"
    return run


class ReplaceablePool:
    """A psycopg_pool slot whose pool can be replaced (a closed psycopg pool cannot be reopened).

    Callers take ``slot.pool`` each time they need a connection; :meth:`replace` is the "restart"
    recovery procedure: open a fresh pool from ``factory`` (waiting for ``min_size`` connections),
    swap it in, close the old one.  Used when the old pool's own reconnect loop is still backing off.
    """

    def __init__(self, factory: Callable[[], Any], timeout: float = 2.0) -> None:
        self.factory = factory
        self.timeout = timeout
        self._lock = threading.Lock()
        self.pool = self._fresh()
        self.replacements = 0

    def _fresh(self) -> Any:
        pool = self.factory()
        try:
            pool.open(wait=True, timeout=self.timeout)
        except BaseException:
            pool.close(timeout=0)  # do not leave its reconnect thread running
            raise
        return pool

    def replace(self) -> bool:
        """Open a new pool and retire the old one; raises if the new one cannot connect."""
        new = self._fresh()
        with self._lock:
            old, self.pool = self.pool, new
            self.replacements += 1
        old.close(timeout=0)
        return True

    def close(self) -> None:
        """Close the current pool."""
        self.pool.close(timeout=0)


class Failover(Generic[T]):
    """Holds the current candidate (a client, a URL's client, a cache tier) and fails over in order.

    ``probe(candidate)`` must raise or return ``False`` when the candidate is unhealthy.
    :meth:`advance` is the recovery procedure: it moves to the next healthy candidate after the
    current one (wrapping round, so a restored primary is found again).
    """

    def __init__(self, candidates: Sequence[T], probe: Callable[[T], Any],
                 on_switch: Callable[[T, T], None] | None = None) -> None:
        if not candidates:
            raise ValueError("Failover needs at least one candidate")
        self.candidates = list(candidates)
        self.probe = probe
        self.on_switch = on_switch
        self.index = 0
        self._lock = threading.Lock()

    @property
    def current(self) -> T:
        """The candidate in use."""
        return self.candidates[self.index]

    def _healthy(self, c: T) -> bool:
        try:
            return self.probe(c) is not False
        except Exception:
            return False

    def advance(self) -> bool:
        """Switch to the next healthy candidate; False if none (the current one is kept)."""
        with self._lock:
            n = len(self.candidates)
            for step in range(1, n + 1):
                i = (self.index + step) % n
                if self._healthy(self.candidates[i]):
                    old_index, self.index = self.index, i
                    if self.on_switch is not None and i != old_index:
                        self.on_switch(self.candidates[old_index], self.current)
                    return True
            return False
