"""Circuit breaker failure recovery (seed diagram "Circuit Breaker Failure Recovery"), real components.

The real :class:`~supreme.resilience.breaker.CircuitBreaker`, :class:`~supreme.resilience.retry.Retry`,
:class:`~supreme.resilience.recovery.ErrorRecovery`, :class:`~supreme.monitoring.metrics.Metrics` and
:class:`~supreme.monitoring.alerts.AlertManager` run on simulated time; only the Service (a dependency
whose answers follow the fault schedule ``faults.service.*``), its latency and the time recovery
procedures take are simulated::

    Client.request -> Circuit_Breaker.forward -> Service.call (ok | error)
    error:  Circuit_Breaker.record_failure -> Monitoring.log_error       (the breaker's monitor hook)
            below threshold: Error_Recovery.retry (Retry.call; its backoff sleep is a SimPy timeout)
                             -> Circuit_Breaker.forward -> Service.call ok -> Error_Recovery.recovered
            threshold exceeded: Circuit_Breaker.transition open -> Error_Recovery.initiate
                 Error_Recovery.recover: reconnect / restart (take simulated time; work if the Service is up)
                   ok  -> Circuit_Breaker.transition half_open -> Circuit_Breaker.test_request
                          -> Service.call ok -> Circuit_Breaker.transition closed
                   all failed -> Error_Recovery.escalate -> Monitoring.escalate (AlertManager incident);
                          clients get Client.response rejected ("circuit open"); retried every
                          ``recovery.interval`` seconds while the circuit is open

How the synchronous real code meets SimPy: :class:`IoBridge` runs a call (``Retry.call`` over
``CircuitBreaker.call``, ``ErrorRecovery.recover``) in a worker thread with a strict hand-off; the
Service's latency, recovery procedures' durations and ``Retry``'s ``clock.sleep`` (through
:class:`BridgeClock`) become SimPy timeouts, during which other processes run.  So ``Retry`` is used
whole, not re-implemented.  (``Retry`` sleeps only through ``clock.sleep``; a plain SimClock raises
there, hence the bridge.)
"""

from __future__ import annotations

import random
import threading
from collections.abc import Generator, Mapping
from typing import Any

import pandas as pd
import simpy

from sim.bridge import BridgeClock, BridgeError, IoBridge
from sim.clock import SimClock
from sim.latency import latency_model
from sim.models._context import SimContext
from sim.scenario import load_defaults, make_scenario

__all__ = ["DEFAULTS", "FLOW", "NAME", "BridgeClock", "BridgeError", "IoBridge", "ServiceDown",
           "latency_model", "run", "summarize"]

NAME = "circuit_breaker"
FLOW = "circuit_breaker"

DEFAULTS: dict[str, Any] = load_defaults(NAME)


class ServiceDown(ConnectionError):
    """The simulated Service failed a call (down window or error draw)."""


class _Service:
    """The simulated dependency: answers by the fault schedule unless a restart repaired it."""

    def __init__(self, ctx: SimContext, sc: Mapping[str, Any], bridge: IoBridge) -> None:
        self.ctx, self.sc, self.bridge = ctx, sc, bridge
        self.latency = latency_model(sc["service.median"], sc["service.p99"])
        self.repaired_at: float | None = None

    def up(self) -> bool:
        return self.repaired_at is not None or self.ctx.faults.state("service", self.ctx.env.now).up

    def call(self) -> str:
        """One request to the Service (inside a bridged call): wait its latency, answer or raise."""
        ctx = self.ctx
        t0 = ctx.env.now
        rid = getattr(_current, "rid", None)
        lat = self.latency.sample(ctx.rng) * ctx.faults.state("service", t0).latency_multiplier
        failed = self.repaired_at is None and ctx.faults.fails("service", t0, ctx.rng)
        down = not self.up()
        self.bridge.wait(lat)
        if not failed:
            ctx.step("Service", "call", "ok", request_id=rid, key="service", latency=lat)
            return "ok"
        why = "service unreachable" if down else "service error"
        ctx.step("Service", "call", "error", request_id=rid, key="service", latency=lat, error=why)
        raise ServiceDown(why)

    def reconnect(self) -> bool:
        """Recovery procedure: reconnecting takes time and works if the Service is up when it ends."""
        self.bridge.wait(self.sc["recovery.reconnect_cost"])
        return self.up()

    def restart(self) -> bool:
        """Recovery procedure: a restart takes longer; it repairs the Service only if the scenario says so."""
        self.bridge.wait(self.sc["recovery.restart_cost"])
        if self.sc["recovery.restart_fixes"] and self.repaired_at is None:
            self.repaired_at = self.ctx.env.now
        return self.up()


_current = threading.local()  # the request a bridged worker serves (for the monitor hook's log rows)


class _Monitoring:
    """The diagram's Monitoring: the breaker's monitor hook (metrics) and the recovery escalation target."""

    def __init__(self, ctx: SimContext, clock: SimClock) -> None:
        from supreme.monitoring.alerts import AlertManager, CallableNotifier, EscalationLevel
        from supreme.monitoring.metrics import Metrics

        self.ctx = ctx
        self.metrics = Metrics()
        quiet = CallableNotifier(lambda note: None)
        self.alerts = AlertManager(chain=[EscalationLevel("on-call", [quiet])], warning_notifiers=[quiet],
                                   clock=clock, event_log=ctx.log, metrics=self.metrics)

    # BreakerMonitor protocol
    def breaker_state(self, name: str, state: str) -> None:
        """The breaker changed state: export it."""
        self.metrics.breaker_state(name, state)

    def breaker_call(self, name: str, outcome: str, latency: float) -> None:
        """A call ended: count it; a failure is the diagram's "Record failure" + "Log error event"."""
        self.metrics.breaker_call(name, outcome, latency)
        if outcome == "error":
            rid = getattr(_current, "rid", None)
            self.metrics.record_error("Service", "error")
            self.ctx.step("Circuit_Breaker", "record_failure", "error", request_id=rid, key=name)
            self.ctx.step("Monitoring", "log_error", "error", frm="Circuit_Breaker", request_id=rid, key=name)

    # Escalation protocol (ErrorRecovery)
    def escalate(self, component: str, message: str, *, key: str | None = None,
                 context: dict[str, Any] | None = None) -> Any:
        """Error_Recovery -> Monitoring: escalate to human intervention."""
        self.ctx.step("Monitoring", "escalate", "error", frm=component, key=key, message=message)
        return self.alerts.escalate(component, message, key=key, context=context)


class _Model:
    def __init__(self, sc: Mapping[str, Any]) -> None:
        from supreme.resilience.breaker import CircuitBreaker
        from supreme.resilience.breaker_state import State
        from supreme.resilience.recovery import ErrorRecovery
        from supreme.resilience.retry import Retry

        self.sc = sc
        self.ctx = ctx = SimContext(NAME, FLOW, sc)
        self.bridge = IoBridge(ctx.env)
        self.clock = clock = BridgeClock(ctx.env, self.bridge)
        self.State = State
        self.service = _Service(ctx, sc, self.bridge)
        self.monitoring = _Monitoring(ctx, clock)
        self.breaker = CircuitBreaker(
            "service", clock=clock, event_log=ctx.log, monitor=self.monitoring, record_calls=False,
            failure_rate_threshold=sc["breaker.failure_rate_threshold"],
            sliding_window_size=sc["breaker.window"],
            minimum_number_of_calls=sc["breaker.min_calls"], wait_duration_in_open=sc["breaker.wait_open"],
            permitted_calls_in_half_open=sc["breaker.half_open_calls"],
        )
        self.retry = Retry(sc["retry.max_attempts"], sc["retry.base"], sc["retry.cap"],
                           seed=random.Random(ctx.seed), clock=clock, breaker=self.breaker,
                           event_log=ctx.log, name="service")
        self.recovery = ErrorRecovery(clock=clock, event_log=ctx.log, escalation=self.monitoring)
        self.recovery.register("service", "reconnect", self.service.reconnect, stage="reconnect")
        self.recovery.register("service", "restart", self.service.restart, stage="restart")
        self.recovering = False
        self.breaker.add_listener(self._on_transition)

    # -- Circuit_Breaker -> Error_Recovery ----------------------------------------------------------
    def _on_transition(self, tr: Any) -> None:
        if tr.to_state is self.State.OPEN and not self.recovering:
            self.recovering = True
            self.ctx.step("Error_Recovery", "initiate", frm="Circuit_Breaker", key="service")
            self.ctx.env.process(self._recover())

    def _recover(self) -> Generator[simpy.Event, Any, None]:
        ctx, State = self.ctx, self.State
        try:
            while self.breaker.state in (State.OPEN, State.FORCED_OPEN):
                result = yield from self.bridge.call(self.recovery.recover, "service", self.breaker)
                if result.succeeded:
                    yield from self.bridge.call(self._test_requests)
                    continue
                ctx.step("Circuit_Breaker", "circuit_open_error", "rejected", key="service",
                         detail=f"clients refused until recovery works; next attempt in "
                                f"{self.sc['recovery.interval']}s")
                yield ctx.env.timeout(self.sc["recovery.interval"])
        finally:
            self.recovering = False

    def _test_requests(self) -> None:
        """HALF_OPEN (in a bridged worker): test requests until the trials decide."""
        for _ in range(10 * self.sc["breaker.half_open_calls"]):
            if self.breaker.state is not self.State.HALF_OPEN:
                return
            if not self.breaker.try_acquire_permission():
                self.bridge.wait(0.1)  # clients hold the trials; wait for their outcomes
                continue
            rid = _current.rid = self.ctx.request_id()
            self.ctx.step("Circuit_Breaker", "test_request", request_id=rid, key="service")
            t0 = self.ctx.env.now
            try:
                self.service.call()
            except ServiceDown as exc:
                self.breaker.on_error(self.ctx.env.now - t0, exc)
            else:
                self.breaker.on_success(self.ctx.env.now - t0)

    # -- Client ----------------------------------------------------------------------------------------
    def _client_call(self, rid: str) -> tuple[str, int]:
        """What the client's thread runs: Retry over the breaker over the Service."""
        _current.rid = rid
        attempts = 0

        def forward() -> str:
            nonlocal attempts
            attempts += 1
            self.ctx.step("Circuit_Breaker", "forward", request_id=rid, key="service", attempt=attempts)
            return self.service.call()

        self.retry.call(forward)
        return "ok", attempts

    def _request(self) -> Generator[simpy.Event, Any, None]:
        from supreme.resilience.breaker import CallNotPermitted

        ctx = self.ctx
        rid, start = ctx.request_id(), ctx.env.now
        ctx.step("Client", "request", request_id=rid, key="service")
        try:
            _, attempts = yield from self.bridge.call(self._client_call, rid)
        except CallNotPermitted as exc:
            ctx.step("Client", "response", "rejected", frm="Circuit_Breaker", request_id=rid, key="service",
                     latency=ctx.env.now - start, error=f"circuit {exc.state.value}")
            return
        except ServiceDown as exc:
            ctx.step("Client", "response", "error", frm="Circuit_Breaker", request_id=rid, key="service",
                     latency=ctx.env.now - start, error=str(exc))
            return
        if attempts > 1:
            ctx.step("Error_Recovery", "recovered", frm="Service", request_id=rid, key="service",
                     attempts=attempts)
        ctx.step("Client", "response", "ok", frm="Circuit_Breaker", request_id=rid, key="service",
                 latency=ctx.env.now - start, attempts=attempts)

    def _clients(self) -> Generator[simpy.Event, Any, None]:
        env, rate = self.ctx.env, self.sc["load.rate"]
        while True:
            yield env.timeout(self.ctx.rng.exponential(1.0 / rate))
            env.process(self._request())

    def run(self) -> pd.DataFrame:
        self.ctx.env.process(self._clients())
        try:
            self.ctx.env.run(until=self.sc["duration"])
        finally:
            self.bridge.close()
        df = self.ctx.frame()
        df.attrs["transitions"] = [(t.time, t.from_state.value, t.to_state.value, t.trigger.value)
                                   for t in self.breaker.transitions]
        df.attrs["retry_delays"] = list(self.retry.delays)
        df.attrs["incidents"] = self.monitoring.alerts.to_frame().to_dict("records")
        return df


def run(scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Simulate failures, retries, an outage, recovery and escalation; returns the event log."""
    return _Model(make_scenario(DEFAULTS, scenario)).run()


def summarize(log: pd.DataFrame) -> dict[str, Any]:
    """Answers by outcome, breaker openings, retries, recoveries and escalations."""
    resp = log[(log["component"] == "Client") & (log["operation"] == "response")]
    trans = log[(log["component"] == "Circuit_Breaker") & (log["operation"] == "transition")]
    rec = log[log["component"] == "Error_Recovery"]
    return {
        "requests": int(((log["component"] == "Client") & (log["operation"] == "request")).sum()),
        "ok": int((resp["outcome"] == "ok").sum()),
        "errors": int((resp["outcome"] == "error").sum()),
        "rejected": int((resp["outcome"] == "rejected").sum()),
        "opened": int((trans["outcome"] == "open").sum()),
        "closed": int((trans["outcome"] == "closed").sum()),
        "retries": int(((rec["operation"] == "retry") & (rec["outcome"] == "retry")).sum()),
        "recovered_by_retry": int((rec["operation"] == "recovered").sum()),
        "recoveries_ok": int(((rec["operation"] == "recover") & (rec["outcome"] == "ok")).sum()),
        "escalations": int((rec["operation"] == "escalate").sum()),
    }
