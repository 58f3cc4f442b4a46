"""Recovery: escalating order, HALF_OPEN on success, escalation to alerting when all fail."""

from __future__ import annotations

import pytest

from supreme.clock import ManualClock
from supreme.events import EventLog
from supreme.monitoring.alerts import AlertManager, EscalationLevel, LogNotifier
from supreme.resilience.breaker import CircuitBreaker
from supreme.resilience.breaker_state import State
from supreme.resilience.handler import ErrorHandler
from supreme.resilience.recovery import ErrorRecovery, Failover, RecoveryFailed


def open_breaker(clock: ManualClock) -> CircuitBreaker:
    b = CircuitBreaker("redis", clock=clock, sliding_window_size=2, minimum_number_of_calls=2,
                       wait_duration_in_open=60, permitted_calls_in_half_open=1)
    for _ in range(2):
        with pytest.raises(OSError):
            b.call(lambda: (_ for _ in ()).throw(OSError("down")))
    assert b.state is State.OPEN
    return b


def test_escalating_order_and_half_open_on_success(clock: ManualClock, event_log: EventLog) -> None:
    order: list[str] = []
    rec = ErrorRecovery(clock=clock, event_log=event_log)

    def step(name: str, result: bool | Exception):  # type: ignore[no-untyped-def]
        def run() -> bool:
            order.append(name)
            if isinstance(result, Exception):
                raise result
            return result
        return run

    rec.register("redis", "failover-secondary", step("failover", True), stage="failover")
    rec.register("redis", "reconnect", step("reconnect", ConnectionError("refused")))
    rec.register("redis", "restart-pool", step("restart", False), stage="restart")
    b = open_breaker(clock)
    result = rec.recover("redis", b)
    assert order == ["reconnect", "restart", "failover"]
    assert result.succeeded and result.procedure == "failover-secondary"
    assert [a[1] for a in result.attempts] == [False, False, True]
    assert "ConnectionError" in result.attempts[0][2]
    assert b.state is State.HALF_OPEN
    b.call(lambda: "pong")  # the test request closes the circuit
    assert b.state is State.CLOSED
    frame = event_log.to_frame()
    rows = frame[frame["component"] == "Error_Recovery"]
    assert list(rows["operation"]) == ["recover", "reconnect", "restart", "failover", "recover"]
    assert list(rows["outcome"]) == ["start", "error", "error", "ok", "ok"]


def test_all_fail_escalates_to_alert_manager(clock: ManualClock, event_log: EventLog) -> None:
    pager = LogNotifier()
    alerts = AlertManager(clock=clock, event_log=event_log, chain=[EscalationLevel("on-call", [pager])])
    rec = ErrorRecovery(clock=clock, event_log=event_log, escalation=alerts)
    rec.register("postgres", "check", lambda: False)
    b = open_breaker(clock)
    result = rec.recover("postgres", b)
    assert not result.succeeded and result.escalated
    assert b.state is State.OPEN
    (inc,) = alerts.active()
    assert inc.severity == "critical" and inc.key == "postgres"
    assert inc.context["attempts"] == ["check: returned False"]
    assert pager.sent[0].kind == "open"
    with pytest.raises(RecoveryFailed, match="postgres"):
        rec.recover_or_raise("postgres", b)
    assert alerts.active()[0].count == 2  # deduplicated into the same incident


def test_no_procedures_escalates(clock: ManualClock) -> None:
    result = ErrorRecovery(clock=clock).recover("nothing")
    assert not result.succeeded and result.attempts == []


def test_register_validation(clock: ManualClock) -> None:
    rec = ErrorRecovery(clock=clock)
    with pytest.raises(ValueError):
        rec.register("x", "p", lambda: True, stage="pray")
    with pytest.raises(TypeError):
        rec.register("x", "p", 3)  # type: ignore[arg-type]


def test_error_handler_flow(clock: ManualClock, event_log: EventLog) -> None:
    alerts = AlertManager(clock=clock, event_log=event_log)
    rec = ErrorRecovery(clock=clock, event_log=event_log, escalation=alerts)
    healthy = {"ok": False}
    rec.register("redis", "reconnect", lambda: healthy["ok"])
    b = CircuitBreaker("redis", clock=clock, sliding_window_size=2, minimum_number_of_calls=2)
    h = ErrorHandler("redis", b, rec, alerts, clock=clock, event_log=event_log)
    first = h.handle(OSError("timeout"), "Cache_Manager")
    assert first.outcome == "warning" and alerts.active()[0].severity == "warning"
    for _ in range(2):
        with pytest.raises(OSError):
            h.call(lambda: (_ for _ in ()).throw(OSError("down")), component="Cache_Manager")
    assert b.state is State.OPEN
    crit = [i for i in alerts.active() if i.severity == "critical"]
    assert len(crit) == 1 and crit[0].key == "redis"
    healthy["ok"] = True
    res = h.handle(OSError("still down"), "Cache_Manager")
    assert res.outcome == "recovered" and b.state is State.HALF_OPEN
    alerts.acknowledge(crit[0].id, by="alice")
    alerts.resolve(crit[0].id, by="alice", note="redis restarted")
    comps = set(event_log.to_frame()["component"])
    assert {"Error_Handler", "Circuit_Breaker", "Alert_Manager", "Human_Operator",
            "Monitoring_System"} <= comps


def test_failover_wraps_round_and_keeps_current_when_none_healthy() -> None:
    health = {"a": False, "b": False, "c": True}
    switches: list[tuple[str, str]] = []
    f = Failover(["a", "b", "c"], lambda x: health[x], on_switch=lambda o, n: switches.append((o, n)))
    assert f.advance() and f.current == "c"
    health.update(c=False, a=True)
    assert f.advance() and f.current == "a"
    health["a"] = False
    assert not f.advance() and f.current == "a"
    assert switches == [("a", "c"), ("c", "a")]
    with pytest.raises(ValueError):
        Failover([], lambda x: True)
