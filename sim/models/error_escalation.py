"""Error escalation (seed diagram "Error Escalation Flow"), driving the real components.

The real :class:`~supreme.resilience.breaker.CircuitBreaker`,
:class:`~supreme.resilience.handler.ErrorHandler`,
:class:`~supreme.resilience.recovery.ErrorRecovery` and
:class:`~supreme.monitoring.alerts.AlertManager` run on a :class:`~sim.clock.SimClock`
and share this run's event log; only I/O costs and the human are simulated::

    Component.call (error)            the dependency is down (fault schedule) -> breaker.on_error
    Error_Handler.exception -> Circuit_Breaker.check (open)
    Error_Handler.reconnect / failover / escalate     recovery procedures (reconnect succeeds when
                                                      the dependency is up again)
    Monitoring_System.report -> Alert_Manager.open    critical incident, page level 0
    Human_Operator.acknowledge        after a delay drawn from a lognormal (operator.ack_*);
                                      Alert_Manager.escalate if it exceeds alerts.ack_timeout
    Monitoring_System.escalate_incident -> Error_Handler.escalation_context
    Component.manual_intervention -> Component.resolved   (operator.fix_* later; dependency repaired)
    Human_Operator.resolve            incident closed; the breaker's next trial closes the circuit

Departures: recovery procedures are synchronous in the real code, so their time
cost (``recovery.attempt_cost`` per attempt) is charged after ``handle`` returns;
the operator repairs the dependency for the rest of the run.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

import pandas as pd
import simpy

from sim.latency import LogNormal
from sim.models._context import SimContext, count_steps
from sim.scenario import load_defaults, make_scenario

__all__ = ["DEFAULTS", "FLOW", "NAME", "run", "summarize"]

NAME = "error_escalation"
FLOW = "error_escalation"

DEFAULTS: dict[str, Any] = load_defaults(NAME)


class _Ops:
    """The dependency's health (fault schedule unless repaired) and the human's bookkeeping."""

    def __init__(self, ctx: SimContext, sc: Mapping[str, Any]) -> None:
        self.ctx, self.sc = ctx, sc
        self.dep = str(sc["dependency"])
        self.repaired_at: float | None = None
        self.handling: set[int] = set()
        self.manager: Any = None

    def up(self) -> bool:
        if self.repaired_at is not None:
            return True
        return self.ctx.faults.state(self.dep, self.ctx.env.now).up

    def fails(self) -> bool:
        if self.repaired_at is not None:
            return False
        return self.ctx.faults.fails(self.dep, self.ctx.env.now, self.ctx.rng)

    def page(self, note: Any) -> None:
        """Notifier hook: a critical page reaches the Human_Operator."""
        if note.kind in ("open", "escalate") and note.incident_id not in self.handling:
            self.handling.add(note.incident_id)
            self.ctx.env.process(self._operator(note.incident_id))

    def _operator(self, incident_id: int) -> Generator[simpy.Event, Any, None]:
        ctx, sc = self.ctx, self.sc
        ack = LogNormal(sc["operator.ack_median"], sc["operator.ack_p99"]).sample(ctx.rng)
        yield ctx.env.timeout(ack)
        inc = self.manager.acknowledge(incident_id, by="Human_Operator")
        ctx.step("Monitoring_System", "escalate_incident", frm="Alert_Manager", key=self.dep,
                 incident=incident_id, level=inc.level)
        ctx.step("Error_Handler", "escalation_context", frm="Monitoring_System", key=self.dep,
                 incident=incident_id)
        t0 = ctx.env.now
        fix = LogNormal(sc["operator.fix_median"], sc["operator.fix_p99"]).sample(ctx.rng)
        ctx.step("Component", "manual_intervention", frm="Human_Operator", key=self.dep, incident=incident_id)
        yield ctx.env.timeout(fix)
        self.repaired_at = ctx.env.now
        ctx.step("Component", "resolved", to="Human_Operator", time=t0, latency=fix, key=self.dep)
        self.manager.resolve(incident_id, by="Human_Operator", note="manual intervention")


def _ticker(ctx: SimContext, manager: Any, period: float) -> Generator[simpy.Event, Any, None]:
    while True:
        yield ctx.env.timeout(period)
        manager.tick()


def _calls(ctx: SimContext, ops: _Ops, breaker: Any, handler: Any, sc: Mapping[str, Any]
           ) -> Generator[simpy.Event, Any, None]:
    env = ctx.env
    while True:
        yield env.timeout(ctx.rng.exponential(1.0 / sc["load.rate"]))
        rid, t0 = ctx.request_id(), env.now
        if not breaker.try_acquire_permission():
            ctx.step("Component", "call", "rejected", request_id=rid, key=ops.dep)
            continue
        lat = ctx.cost(sc["call.key"], ops.dep)
        down = ops.fails()
        if down:
            lat = max(lat, 0.0)  # a refused connection answers as fast as a hit
        yield env.timeout(lat)
        if not down:
            breaker.on_success(lat)
            ctx.step("Component", "call", "ok", time=t0, request_id=rid, key=ops.dep, latency=lat)
            continue
        exc = ConnectionError(f"{ops.dep} unreachable")
        breaker.on_error(lat, exc)
        ctx.step("Component", "call", "error", time=t0, request_id=rid, key=ops.dep, latency=lat)
        result = handler.handle(exc, component="Component")
        if result.recovery is not None and result.recovery.attempts:
            yield env.timeout(sc["recovery.attempt_cost"] * len(result.recovery.attempts))


def run(scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Simulate an outage escalating to a human; returns the event log."""
    sc = make_scenario(DEFAULTS, scenario)
    try:
        from supreme.monitoring.alerts import AlertManager, CallableNotifier, EscalationLevel
        from supreme.resilience.breaker import CircuitBreaker
        from supreme.resilience.handler import ErrorHandler
        from supreme.resilience.recovery import ErrorRecovery
    except ImportError as exc:  # written by another helper; say so rather than fake them
        raise RuntimeError(
            f"error_escalation needs supreme.resilience and supreme.monitoring: {exc}") from exc
    ctx = SimContext(NAME, FLOW, sc)
    ops = _Ops(ctx, sc)
    pager = CallableNotifier(ops.page)
    manager = AlertManager(
        chain=[EscalationLevel("on-call", [pager], ack_timeout=sc["alerts.ack_timeout"]),
               EscalationLevel("secondary", [pager], ack_timeout=None)],
        warning_notifiers=[], clock=ctx.clock, event_log=ctx.log,
    )
    ops.manager = manager
    breaker = CircuitBreaker(
        ops.dep, clock=ctx.clock, event_log=ctx.log, record_calls=False,
        failure_rate_threshold=sc["breaker.failure_rate_threshold"], sliding_window_size=sc["breaker.window"],
        minimum_number_of_calls=sc["breaker.min_calls"], wait_duration_in_open=sc["breaker.wait_open"],
        permitted_calls_in_half_open=sc["breaker.half_open_calls"],
    )
    recovery = ErrorRecovery(clock=ctx.clock, event_log=ctx.log, escalation=manager, flow=FLOW,
                             component="Error_Handler")
    recovery.register(ops.dep, "reconnect", ops.up, stage="reconnect")
    recovery.register(ops.dep, "failover", lambda: bool(sc["recovery.failover_works"]), stage="failover")
    handler = ErrorHandler(ops.dep, breaker, recovery, manager, clock=ctx.clock, event_log=ctx.log)
    ctx.env.process(_ticker(ctx, manager, sc["alerts.tick_period"]))
    ctx.env.process(_calls(ctx, ops, breaker, handler, sc))
    ctx.env.run(until=sc["duration"])
    df = ctx.frame()
    df.attrs["incidents"] = manager.to_frame().to_dict("records")
    return df


def summarize(log: pd.DataFrame) -> dict[str, Any]:
    """Calls by outcome, incidents, time to acknowledge and to resolve."""
    calls = log[(log["component"] == "Component") & (log["operation"] == "call")]
    incidents = [i for i in log.attrs.get("incidents", []) if i.get("severity") == "critical"]
    first = incidents[0] if incidents else {}
    opened = first.get("opened_at")
    ack, res = first.get("acknowledged_at"), first.get("resolved_at")
    return {
        "calls": len(calls),
        "errors": int((calls["outcome"] == "error").sum()),
        "rejected": int((calls["outcome"] == "rejected").sum()),
        "critical_incidents": len(incidents),
        "escalations": count_steps(log, "Alert_Manager", "escalate"),
        "time_to_ack": (ack - opened) if ack is not None and opened is not None else None,
        "time_to_resolve": (res - opened) if res is not None and opened is not None else None,
    }
