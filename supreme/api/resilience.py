"""The running service's resilience loop: recovery, error handling, alerts and pool gauges.

Seed diagrams "Circuit Breaker Failure Recovery" and "Error Escalation Flow", wired into ``serve``::

    every ``interval`` s (an asyncio task in the app's lifespan; decisions on the service clock):
        for each remote tier (L2, L3):
            breaker OPEN/FORCED_OPEN -> ErrorHandler.handle(outage)
                -> ErrorRecovery.recover(tier): reconnect (drop pooled connections, PING / SELECT 1)
                   ok     -> breaker HALF_OPEN (probe calls close it)
                   failed -> AlertManager critical incident "recovery failed" (escalates on the clock)
        AlertManager.evaluate(metrics): rule "breaker_open:<breaker>" fires while a breaker is not
                                        closed, and resolves itself when it closes again
        AlertManager.tick(): unacknowledged critical incidents move up the escalation chain

The retry half of the diagram lives in :func:`supreme.builders.build_manager` (``retry_attempts``):
every L2/L3 call runs ``Retry(breaker=...)``, which never retries into an open breaker.

Exported at ``GET /metrics`` (read at scrape time): ``supreme_alerts_active{severity}``,
``supreme_alert_incidents_total{rule,severity}``, ``supreme_alert_escalation_level{rule,key}``,
and ``supreme_pool_connections{pool,state}`` for the Redis client's pool and each PostgreSQL pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from supreme.clock import Clock
from supreme.events import NULL_LOG, EventLog
from supreme.monitoring.alerts import AlertManager, AlertRule, EscalationLevel, Incident, LogNotifier
from supreme.monitoring.metrics import Metrics, MetricsSnapshot
from supreme.resilience.breaker import CircuitBreaker
from supreme.resilience.breaker_state import State
from supreme.resilience.handler import ErrorHandler
from supreme.resilience.pools import PoolStats, pg_pool_stats, redis_pool_stats
from supreme.resilience.recovery import ErrorRecovery

__all__ = ["ServiceResilience", "TierOutage", "alert_json", "breaker_rule"]

log = logging.getLogger(__name__)


class TierOutage(ConnectionError):
    """What the loop hands the Error_Handler for a tier whose breaker is open."""


def breaker_rule(breaker: str, prefix: str = "supreme") -> AlertRule:
    """Critical while ``breaker`` is open, forced open or half open; resolves itself once closed."""

    def firing(snap: MetricsSnapshot) -> bool:
        name = f"{prefix}_breaker_state"
        return any(v >= 1.0 for n, lab, v in snap.samples
                   if n == name and lab.get("breaker") == breaker
                   and lab.get(name) in ("open", "forced_open", "half_open"))

    return AlertRule(f"breaker_open:{breaker}", "critical", condition=firing,
                     description=f"circuit breaker {breaker} is not closed: its tier is skipped")


def alert_json(inc: Incident, chain: Sequence[EscalationLevel]) -> dict[str, Any]:
    """One incident as the JSON of ``GET /api/v1/alerts``."""
    level_name = chain[inc.level].name if inc.severity == "critical" and inc.level < len(chain) else "log"
    return {"id": inc.id, "rule": inc.rule, "key": inc.key, "severity": inc.severity,
            "status": inc.status.value, "level": inc.level, "level_name": level_name, "count": inc.count,
            "message": inc.message, "opened_at": inc.opened_at, "acknowledged_at": inc.acknowledged_at,
            "resolved_at": inc.resolved_at}


class _AlertCollector(Collector):
    """Alert gauges and counters, read from the AlertManager at scrape time."""

    def __init__(self, alerts: AlertManager, prefix: str) -> None:
        self.alerts = alerts
        self.prefix = prefix

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        p = self.prefix
        active = GaugeMetricFamily(f"{p}_alerts_active", "Open or acknowledged incidents",
                                   labels=["severity"])
        level = GaugeMetricFamily(f"{p}_alert_escalation_level",
                                  "Escalation level of each active incident (0 = first rung)",
                                  labels=["rule", "key"])
        opened = CounterMetricFamily(f"{p}_alert_incidents", "Incidents opened", labels=["rule", "severity"])
        incidents = list(self.alerts.incidents.values())
        counts: dict[str, int] = {"critical": 0, "warning": 0}
        per_rule: dict[tuple[str, str], int] = {}
        for inc in incidents:
            per_rule[(inc.rule, inc.severity)] = per_rule.get((inc.rule, inc.severity), 0) + 1
            if inc.active:
                counts[inc.severity] = counts.get(inc.severity, 0) + 1
                level.add_metric([inc.rule, inc.key], float(inc.level))
        for sev, n in counts.items():
            active.add_metric([sev], float(n))
        for (rule, sev), n in sorted(per_rule.items()):
            opened.add_metric([rule, sev], float(n))
        yield active
        yield level
        yield opened


@dataclass
class ServiceResilience:
    """Recovery, error handling and alerting over the service's breakers, decided on its clock."""

    clock: Clock
    metrics: Metrics
    alerts: AlertManager
    recovery: ErrorRecovery
    handlers: dict[str, ErrorHandler]
    breakers: dict[str, CircuitBreaker]
    interval: float = 0.5
    event_log: EventLog = NULL_LOG
    #: called with the clock's now after every step, on the event loop (e.g. the adaptive layer's cycle)
    periodic: list[Callable[[float], Any]] = field(default_factory=list)
    steps: int = 0
    errors: list[str] = field(default_factory=list)
    _task: asyncio.Task[None] | None = field(default=None, repr=False)
    _stop: asyncio.Event | None = field(default=None, repr=False)

    @classmethod
    def build(cls, clock: Clock, metrics: Metrics, breakers: dict[str, CircuitBreaker], tiers: dict[str, Any],
              *, event_log: EventLog = NULL_LOG, interval: float = 0.5,
              chain: Sequence[EscalationLevel] | None = None, redis: Any = None,
              databases: dict[str, Callable[[], Any]] | None = None) -> ServiceResilience:
        """Rules per breaker, a reconnect procedure per tier, pool gauges for ``redis`` and ``databases``."""
        if not interval > 0:
            raise ValueError(f"resilience interval must be > 0 s, got {interval!r}")
        if chain is None:  # on-call first; the lead after 5 minutes without acknowledgement
            chain = [EscalationLevel("on-call", [LogNotifier()], ack_timeout=300.0),
                     EscalationLevel("lead", [LogNotifier()])]
        alerts = AlertManager([breaker_rule(b.name, metrics.prefix) for b in breakers.values()], chain,
                              clock=clock, event_log=event_log, metrics=metrics)
        recovery = ErrorRecovery(clock=clock, event_log=event_log, escalation=alerts)
        handlers: dict[str, ErrorHandler] = {}
        for name, breaker in breakers.items():
            tier = tiers.get(name)
            if tier is not None:
                recovery.register(name, f"{name}_reconnect", _reconnect(tier), "reconnect")
            handlers[name] = ErrorHandler(name, breaker, recovery, alerts, clock=clock, event_log=event_log)
            metrics.breaker_state(breaker.name, breaker.state.value)  # the gauge exists before a change
        metrics.registry.register(_AlertCollector(alerts, metrics.prefix))
        pool = getattr(redis, "connection_pool", None)
        if pool is not None and hasattr(pool, "_get_free_connections"):
            metrics.add_pool("redis", lambda: redis_pool_stats(pool, "redis"))
        for pname, database in (databases or {}).items():
            # read at scrape time: L3 opens its database lazily; SQLite has no pool and is skipped
            metrics.add_pool(pname, _pg_source(database, pname))
        return cls(clock, metrics, alerts, recovery, handlers, dict(breakers), interval, event_log)

    def step(self) -> None:
        """One round: recover open breakers, evaluate the alert rules, escalate; then the periodic calls."""
        self.check()
        self.run_periodic()

    def run_periodic(self) -> None:
        """Each periodic call with the clock's now (a failing one is noted, never raised)."""
        for fn in self.periodic:
            try:
                fn(self.clock.now())
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                log.warning("periodic call %r failed: %s", fn, exc)

    def check(self) -> None:
        """Recover open breakers, evaluate the alert rules, escalate on the clock (does I/O)."""
        self.steps += 1
        for name, handler in self.handlers.items():
            state = handler.breaker.state
            if state in (State.OPEN, State.FORCED_OPEN):
                handler.handle(TierOutage(f"{name}: circuit {state.value}"), component="Cache_Manager")
            elif state is State.CLOSED:
                self._resolve_recovered(name)
        self.alerts.evaluate()
        self.alerts.tick()

    def _resolve_recovered(self, dependency: str) -> None:
        """A closed breaker ends the incidents its outage opened (failed recoveries, handler reports)."""
        for inc in self.alerts.active():
            if inc.key == dependency:
                self.alerts.resolve(inc.id, by="auto", note="breaker closed")

    def snapshot(self, recent: int = 50) -> dict[str, Any]:
        """What ``GET /api/v1/alerts`` answers: active incidents and the most recent ones."""
        chain = self.alerts.chain
        active = [alert_json(i, chain) for i in self.alerts.active()]
        latest = sorted(self.alerts.incidents.values(), key=lambda i: i.id, reverse=True)[:recent]
        return {"time": self.clock.now(), "active": active, "recent": [alert_json(i, chain) for i in latest],
                "breakers": {b.name: b.state.value for b in self.breakers.values()}}

    async def run(self) -> None:
        """Step every ``interval`` s until :meth:`stop` (each step in a worker thread: it does I/O).

        Only the pacing waits on the event loop's timer (like the proxy's poll timeouts): every decision
        (breaker waits, escalation timeouts, incident times) reads the service clock, so a test's
        ManualClock is never moved by this loop and a test may call :meth:`step` itself.
        """
        self._stop = stop = asyncio.Event()
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.check)
            except Exception as exc:  # the loop must outlive any one failing step
                self.errors.append(f"{type(exc).__name__}: {exc}")
                log.warning("resilience step failed: %s", exc)
            self.run_periodic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)

    def start(self) -> asyncio.Task[None]:
        """Start :meth:`run` as a task on the running loop (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name="supreme-resilience")
        return self._task

    async def stop(self) -> None:
        """Stop the task and wait for it."""
        task, self._task = self._task, None
        if task is None:
            return
        if self._stop is not None:
            self._stop.set()
        try:
            await asyncio.wait_for(task, timeout=5.0)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()


def _pg_source(database: Callable[[], Any], name: str) -> Callable[[], PoolStats]:
    """Pool statistics of the database ``database()`` returns (raises for SQLite: no pool)."""
    return lambda: pg_pool_stats(database().pool, name)


def _reconnect(tier: Any) -> Any:
    """Reconnect procedure for a tier: drop the Redis client's pooled connections (if any), then ping."""

    def run() -> bool:
        client = getattr(tier, "client", None)
        pool = getattr(client, "connection_pool", None)
        if pool is not None:
            # idle connections only: an in-use one belongs to a request thread mid-read, and closing
            # it under that thread makes redis-py raise AttributeError instead of ConnectionError
            pool.disconnect(inuse_connections=False)
        ping = getattr(tier, "ping", None)
        if ping is not None:
            return bool(ping())
        tier.peek("__supreme_probe__")  # a round trip through the tier (raises while it is down)
        return True

    run.__name__ = "reconnect"
    return run
