"""Alert rules, incidents with an escalation chain on the clock, and pluggable notifiers.

Seed diagram "Error Escalation Flow": Monitoring_System -> Alert_Manager evaluates alert
conditions; a *critical* alert checks the escalation rules and goes to the Human_Operator, who
acknowledges it and later closes the incident; a *warning* is only logged.  Modelled on Prometheus
Alertmanager (grouping key, dedup while firing, resolve) and PagerDuty escalation policies (level 0
notified at once; next level if not acknowledged within the level's timeout).

Lifecycle::

    (rule fires / error reported) --> OPEN --ack--> ACKNOWLEDGED --resolve--> RESOLVED
                                        |                                      ^
                                        +--------------resolve-----------------+
    while OPEN (critical):  tick(): now - level_since >= chain[level].ack_timeout -> level += 1, notify
    same (rule, key) while OPEN/ACKNOWLEDGED -> count += 1, no new incident, no new page

Everything is driven by the injected clock (``tick()``), never by a timer thread.

Exceptions::

    SupremeError
    └── AlertError   (also KeyError/ValueError) unknown incident, illegal lifecycle step, bad rule
"""

from __future__ import annotations

import enum
import itertools
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from supreme.clock import Clock, SystemClock
from supreme.errors import SupremeError
from supreme.events import NULL_LOG, EventLog
from supreme.monitoring.metrics import Metrics, MetricsSnapshot

if TYPE_CHECKING:
    import httpx
    import pandas as pd

__all__ = [
    "SEVERITIES",
    "AlertError",
    "AlertManager",
    "AlertRule",
    "CallableNotifier",
    "ErrorEvent",
    "EscalationLevel",
    "Incident",
    "IncidentStatus",
    "LogNotifier",
    "Notification",
    "Notifier",
    "WebhookNotifier",
]

FLOW = "error_escalation"
SEVERITIES = ("critical", "warning")
log = logging.getLogger("supreme.alerts")


class AlertError(SupremeError, ValueError):
    """An unknown incident, an illegal lifecycle step or an invalid rule."""


class IncidentStatus(enum.Enum):
    """Incident lifecycle."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class ErrorEvent:
    """An error a component reported to Monitoring."""

    component: str
    message: str
    severity: str = "critical"
    key: str | None = None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertRule:
    """A named condition over a metrics snapshot and/or over reported error events."""

    name: str
    severity: str = "critical"
    condition: Callable[[MetricsSnapshot], bool] | None = None
    matches: Callable[[ErrorEvent], bool] | None = None
    description: str = ""
    auto_resolve: bool = True  # resolve a metric incident when its condition clears

    def __post_init__(self) -> None:
        if not self.name:
            raise AlertError("alert rule needs a name")
        if self.severity not in SEVERITIES:
            raise AlertError(f"alert rule {self.name!r}: severity must be one of {SEVERITIES}, "
                             f"got {self.severity!r}")
        if self.condition is None and self.matches is None:
            raise AlertError(f"alert rule {self.name!r} needs a condition or a matches predicate")


@dataclass(frozen=True)
class Notification:
    """What a notifier receives."""

    kind: str  # open / escalate / acknowledged / resolved / warning
    incident_id: int
    rule: str
    key: str
    severity: str
    level: int
    level_name: str
    message: str
    time: float
    context: dict[str, Any]


class Notifier(Protocol):
    """Sends a notification somewhere (log, chat, pager)."""

    def notify(self, notification: Notification) -> None:
        """Deliver one notification (may raise; the manager records the failure)."""
        ...


class LogNotifier:
    """Logs notifications and keeps them in ``sent`` (the honest test double)."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self.logger = logger
        self.sent: list[Notification] = []

    def notify(self, notification: Notification) -> None:
        """Log and keep."""
        self.sent.append(notification)
        level = logging.CRITICAL if notification.severity == "critical" else logging.WARNING
        self.logger.log(level, "[%s] %s %s/%s level=%s: %s", notification.kind, notification.severity,
                        notification.rule, notification.key, notification.level_name, notification.message)


class CallableNotifier:
    """Calls ``fn(notification)``."""

    def __init__(self, fn: Callable[[Notification], Any]) -> None:
        self.fn = fn

    def notify(self, notification: Notification) -> None:
        """Call the function."""
        self.fn(notification)


class WebhookNotifier:
    """POSTs the notification as JSON with httpx (raises on a non-2xx answer)."""

    def __init__(self, url: str, client: httpx.Client | None = None, timeout: float = 2.0) -> None:
        import httpx

        self.url = url
        self.client = client if client is not None else httpx.Client(timeout=timeout)

    def notify(self, notification: Notification) -> None:
        """POST and check the status."""
        body = {k: getattr(notification, k) for k in Notification.__dataclass_fields__}
        self.client.post(self.url, json=body).raise_for_status()


@dataclass(frozen=True)
class EscalationLevel:
    """One rung of the chain: who is told, and how long they have to acknowledge."""

    name: str
    notifiers: Sequence[Notifier]
    ack_timeout: float | None = None  # None: the last rung, never escalates further

    def __post_init__(self) -> None:
        if self.ack_timeout is not None and not self.ack_timeout > 0:
            raise AlertError(f"escalation level {self.name!r}: ack_timeout must be > 0 s or None")


@dataclass
class Incident:
    """One open-to-resolved alert."""

    id: int
    rule: str
    key: str
    severity: str
    message: str
    opened_at: float
    status: IncidentStatus = IncidentStatus.OPEN
    level: int = 0
    level_since: float = 0.0
    count: int = 1
    context: dict[str, Any] = field(default_factory=dict)
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    resolved_by: str | None = None
    resolved_at: float | None = None
    history: list[tuple[float, str, str]] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """Open or acknowledged (not resolved)."""
        return self.status is not IncidentStatus.RESOLVED


class AlertManager:
    """Evaluates rules, opens/deduplicates incidents, escalates on :meth:`tick`, tracks ack/resolve."""

    def __init__(
        self,
        rules: Sequence[AlertRule] = (),
        chain: Sequence[EscalationLevel] | None = None,
        *,
        warning_notifiers: Sequence[Notifier] | None = None,
        clock: Clock | None = None,
        event_log: EventLog = NULL_LOG,
        metrics: Metrics | None = None,
    ) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.event_log = event_log
        self.metrics = metrics
        self.rules: dict[str, AlertRule] = {}
        for r in rules:
            self.add_rule(r)
        self.chain: list[EscalationLevel] = (list(chain) if chain
                                             else [EscalationLevel("on-call", [LogNotifier()])])
        self.warning_notifiers: list[Notifier] = (list(warning_notifiers) if warning_notifiers is not None
                                                  else [LogNotifier()])
        self.incidents: dict[int, Incident] = {}
        self._active: dict[tuple[str, str], int] = {}
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self.notify_errors: list[tuple[int, str]] = []

    def add_rule(self, rule: AlertRule) -> None:
        """Add (or replace) a rule."""
        self.rules[rule.name] = rule

    # -- inputs ----------------------------------------------------------------------------------
    def evaluate(self, snapshot: MetricsSnapshot | None = None) -> list[Incident]:
        """Check every metric rule against ``snapshot`` (default: ``metrics.snapshot()``)."""
        if snapshot is None:
            if self.metrics is None:
                raise AlertError("evaluate() needs a snapshot or a Metrics object")
            snapshot = self.metrics.snapshot()
        opened: list[Incident] = []
        for rule in list(self.rules.values()):
            if rule.condition is None:
                continue
            try:
                firing = bool(rule.condition(snapshot))
            except Exception as exc:  # a broken rule is reported, never crashes evaluation
                self._record("evaluate", "error", rule.name, f"{type(exc).__name__}: {exc}")
                continue
            if firing:
                opened.append(self._fire(rule, "", rule.description or f"{rule.name} firing", {}))
            elif rule.auto_resolve:
                iid = self._active.get((rule.name, ""))
                if iid is not None:
                    self.resolve(iid, by="auto", note="condition cleared")
        return opened

    def report(self, event: ErrorEvent) -> Incident:
        """An error reached Monitoring: open/update an incident for each matching rule (or a default one)."""
        if self.metrics is not None:
            self.metrics.record_error(event.component, event.severity)
        self._record("report", event.severity, event.key or event.component, event.message,
                     component="Monitoring_System")
        first: Incident | None = None
        for rule in list(self.rules.values()):
            if rule.matches is not None and rule.matches(event):
                inc = self._fire(rule, event.key or event.component, event.message, event.context)
                first = first or inc
        if first is None:  # no rule claims it: the event's own severity decides
            if event.severity not in SEVERITIES:
                raise AlertError(f"error event severity must be one of {SEVERITIES}, got {event.severity!r}")
            rule = AlertRule(f"error:{event.component}", event.severity, matches=lambda e: True)
            first = self._fire(rule, event.key or event.component, event.message, event.context)
        return first

    def escalate(self, component: str, message: str, *, key: str | None = None,
                 context: dict[str, Any] | None = None) -> Incident:
        """A critical error that needs a human (the recovery :class:`Escalation` hook)."""
        return self.report(ErrorEvent(component, message, "critical", key, dict(context or {})))

    def report_error(self, component: str, message: str, severity: str = "critical", *,
                     key: str | None = None, context: dict[str, Any] | None = None) -> Incident:
        """Shorthand for :meth:`report` with an :class:`ErrorEvent`."""
        return self.report(ErrorEvent(component, message, severity, key, dict(context or {})))

    # -- lifecycle -----------------------------------------------------------------------------
    def _fire(self, rule: AlertRule, key: str, message: str, context: dict[str, Any]) -> Incident:
        now = self.clock.now()
        with self._lock:
            iid = self._active.get((rule.name, key))
            if iid is not None:
                inc = self.incidents[iid]
                inc.count += 1
                inc.history.append((now, "repeat", message))
                self._record("dedup", inc.status.value, f"{rule.name}/{key}", f"count={inc.count}")
                return inc
            inc = Incident(next(self._ids), rule.name, key, rule.severity, message, now, level_since=now,
                           context=dict(context))
            inc.history.append((now, "open", message))
            self.incidents[inc.id] = inc
            self._active[(rule.name, key)] = inc.id
        self._record("open", rule.severity, f"{rule.name}/{key}", message)
        if rule.severity == "critical":
            self._send(inc, "open", self.chain[0].notifiers)
        else:
            self._send(inc, "warning", self.warning_notifiers)
        return inc

    def tick(self) -> list[Incident]:
        """Escalate every unacknowledged critical incident whose level timed out; returns those moved."""
        now = self.clock.now()
        moved: list[Incident] = []
        with self._lock:
            candidates = [self.incidents[i] for i in self._active.values()]
        for inc in candidates:
            while True:
                with self._lock:
                    if inc.status is not IncidentStatus.OPEN or inc.severity != "critical":
                        break
                    timeout = self.chain[inc.level].ack_timeout
                    if timeout is None or inc.level + 1 >= len(self.chain) or now - inc.level_since < timeout:
                        break
                    inc.level += 1
                    inc.level_since += timeout  # on schedule even if tick() ran late
                    inc.history.append((now, "escalate", self.chain[inc.level].name))
                self._record("escalate", "critical", f"{inc.rule}/{inc.key}",
                             f"to {self.chain[inc.level].name}")
                self._send(inc, "escalate", self.chain[inc.level].notifiers)
                if inc not in moved:
                    moved.append(inc)
        return moved

    def acknowledge(self, incident_id: int, by: str = "operator") -> Incident:
        """The Human_Operator acknowledges: escalation stops."""
        now = self.clock.now()
        with self._lock:
            inc = self._get(incident_id)
            if inc.status is not IncidentStatus.OPEN:
                raise AlertError(f"incident {incident_id} is {inc.status.value}; only an open incident "
                                 "can be acknowledged")
            inc.status = IncidentStatus.ACKNOWLEDGED
            inc.acknowledged_by, inc.acknowledged_at = by, now
            inc.history.append((now, "acknowledged", by))
        self._record("acknowledge", "ok", f"{inc.rule}/{inc.key}", by, component="Human_Operator")
        self._send(inc, "acknowledged", self.chain[inc.level].notifiers)
        return inc

    def resolve(self, incident_id: int, by: str = "operator", note: str = "") -> Incident:
        """Close the incident (open or acknowledged)."""
        now = self.clock.now()
        with self._lock:
            inc = self._get(incident_id)
            if inc.status is IncidentStatus.RESOLVED:
                raise AlertError(f"incident {incident_id} is already resolved")
            inc.status = IncidentStatus.RESOLVED
            inc.resolved_by, inc.resolved_at = by, now
            inc.history.append((now, "resolved", note or by))
            self._active.pop((inc.rule, inc.key), None)
        self._record("resolve", "ok", f"{inc.rule}/{inc.key}", note or by,
                     component="Human_Operator" if by != "auto" else "Alert_Manager")
        notifiers = self.chain[inc.level].notifiers if inc.severity == "critical" else self.warning_notifiers
        self._send(inc, "resolved", notifiers)
        return inc

    def _get(self, incident_id: int) -> Incident:
        try:
            return self.incidents[incident_id]
        except KeyError:
            raise AlertError(f"no incident with id {incident_id}") from None

    def active(self) -> list[Incident]:
        """Open and acknowledged incidents, oldest first."""
        with self._lock:
            return [self.incidents[i] for i in sorted(self._active.values())]

    def to_frame(self) -> pd.DataFrame:
        """Every incident as a row."""
        import pandas as pd

        cols = ["id", "rule", "key", "severity", "status", "level", "count", "opened_at",
                "acknowledged_at", "resolved_at", "message"]
        rows = [{c: (getattr(i, c).value if c == "status" else getattr(i, c)) for c in cols}
                for i in self.incidents.values()]
        return pd.DataFrame.from_records(rows, columns=cols)

    # -- plumbing ------------------------------------------------------------------------------
    def _send(self, inc: Incident, kind: str, notifiers: Sequence[Notifier]) -> None:
        n = Notification(kind, inc.id, inc.rule, inc.key, inc.severity, inc.level,
                         self.chain[inc.level].name if inc.severity == "critical" else "log",
                         inc.message, self.clock.now(), dict(inc.context))
        for notifier in notifiers:
            try:
                notifier.notify(n)
            except Exception as exc:  # one broken channel must not silence the others
                self.notify_errors.append((inc.id, f"{type(notifier).__name__}: {exc}"))
                self._record("notify", "error", f"{inc.rule}/{inc.key}", f"{type(notifier).__name__}: {exc}")

    def _record(self, op: str, outcome: str, key: str, detail: str, component: str = "Alert_Manager") -> None:
        self.event_log.record(self.clock.now(), FLOW, component, op, outcome, key=key, detail=detail)
