"""The Error_Handler of the seed's "Error Escalation Flow", tying the pieces together.

::

    Component --exception--> ErrorHandler.handle(exc)
        -> Monitoring: count the error
        -> Circuit_Breaker: check state
           OPEN/FORCED_OPEN -> ErrorRecovery.recover(dependency, breaker)
                               ok     -> breaker HALF_OPEN, outcome "recovered"
                               failed -> Alert_Manager critical incident (Human_Operator paged)
           otherwise        -> Alert_Manager warning (logged only), outcome "warning"

It holds no state of its own beyond its collaborators; alerts and monitoring are duck-typed so
this module imports nothing from :mod:`supreme.monitoring`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from supreme.clock import Clock, SystemClock
from supreme.events import NULL_LOG, EventLog
from supreme.resilience.breaker import CircuitBreaker
from supreme.resilience.breaker_state import State
from supreme.resilience.recovery import ErrorRecovery, RecoveryResult

__all__ = ["ErrorHandler", "HandledError"]

T = TypeVar("T")
FLOW = "error_escalation"


class _Alerts(Protocol):
    def report_error(self, component: str, message: str, severity: str = "critical", *,
                     key: str | None = None, context: dict[str, Any] | None = None) -> Any: ...


@dataclass
class HandledError:
    """What :meth:`ErrorHandler.handle` decided."""

    outcome: str  # "warning", "recovered", "escalated"
    breaker_state: str
    recovery: RecoveryResult | None = None
    incident: Any = None


class ErrorHandler:
    """Routes a component's exception through breaker check, recovery, monitoring and alerting."""

    def __init__(
        self,
        dependency: str,
        breaker: CircuitBreaker,
        recovery: ErrorRecovery | None = None,
        alerts: _Alerts | None = None,
        *,
        clock: Clock | None = None,
        event_log: EventLog = NULL_LOG,
    ) -> None:
        self.dependency = dependency
        self.breaker = breaker
        self.recovery = recovery
        self.alerts = alerts
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.event_log = event_log

    def handle(self, exc: BaseException, component: str = "Component") -> HandledError:
        """Decide what an exception means and act on it."""
        msg = f"{type(exc).__name__}: {exc}"
        self.event_log.record(self.clock.now(), FLOW, "Error_Handler", "exception", "error",
                              key=self.dependency, detail=f"from {component}: {msg}")
        state = self.breaker.state
        self.event_log.record(self.clock.now(), FLOW, "Circuit_Breaker", "check", state.value,
                              key=self.breaker.name)
        if state not in (State.OPEN, State.FORCED_OPEN):
            incident = None
            if self.alerts is not None:
                incident = self.alerts.report_error(component, msg, "warning", key=self.dependency)
            return HandledError("warning", state.value, incident=incident)
        result = None
        if self.recovery is not None:
            result = self.recovery.recover(self.dependency, self.breaker, context={"error": msg})
            if result.succeeded:
                return HandledError("recovered", self.breaker.state.value, result)
        incident = None
        if self.alerts is not None and (result is None or not result.escalated):
            incident = self.alerts.report_error(
                component, f"{self.dependency}: circuit open and recovery failed ({msg})", "critical",
                key=self.dependency,
                context={"error": msg, "attempts": [a[0] for a in (result.attempts if result else [])]})
        return HandledError("escalated", self.breaker.state.value, result, incident)

    def call(self, fn: Callable[..., T], *args: Any, component: str = "Component", **kwargs: Any) -> T:
        """Run ``fn`` through the breaker; on failure handle the error and re-raise it."""
        try:
            return self.breaker.call(fn, *args, **kwargs)
        except Exception as exc:
            self.handle(exc, component)
            raise
