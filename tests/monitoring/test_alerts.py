"""AlertManager on a ManualClock: dedup, escalation, acknowledgement, resolution, notifiers."""

from __future__ import annotations

import json

import httpx
import pytest

from supreme.clock import ManualClock
from supreme.events import EventLog
from supreme.monitoring.alerts import (
    AlertError,
    AlertManager,
    AlertRule,
    CallableNotifier,
    ErrorEvent,
    EscalationLevel,
    IncidentStatus,
    LogNotifier,
    Notification,
    WebhookNotifier,
)
from supreme.monitoring.metrics import Metrics


def chain() -> tuple[list[EscalationLevel], LogNotifier, LogNotifier, LogNotifier]:
    oncall, lead, cto = LogNotifier(), LogNotifier(), LogNotifier()
    return ([EscalationLevel("on-call", [oncall], 300), EscalationLevel("team-lead", [lead], 600),
             EscalationLevel("cto", [cto])], oncall, lead, cto)


def test_escalation_chain_on_the_clock(clock: ManualClock, event_log: EventLog) -> None:
    levels, oncall, lead, cto = chain()
    am = AlertManager(chain=levels, clock=clock, event_log=event_log)
    inc = am.escalate("Error_Recovery", "redis down", key="redis")
    assert [n.kind for n in oncall.sent] == ["open"] and not lead.sent
    clock.advance(299.9)
    assert am.tick() == []
    clock.advance(0.1)
    assert am.tick() == [inc] and inc.level == 1
    assert [n.level_name for n in lead.sent] == ["team-lead"]
    clock.advance(600)
    am.tick()
    assert inc.level == 2 and [n.kind for n in cto.sent] == ["escalate"]
    clock.advance(10_000)
    assert am.tick() == []  # the last rung never escalates further
    ops = event_log.to_frame()["operation"].tolist()
    assert ops.count("escalate") == 2


def test_late_tick_escalates_through_every_due_level(clock: ManualClock) -> None:
    levels, _, lead, cto = chain()
    am = AlertManager(chain=levels, clock=clock)
    inc = am.escalate("X", "boom")
    clock.advance(1000)  # past both timeouts (300 + 600)
    am.tick()
    assert inc.level == 2 and len(lead.sent) == 1 and len(cto.sent) == 1


def test_acknowledge_stops_escalation_and_resolve_closes(clock: ManualClock, event_log: EventLog) -> None:
    levels, oncall, lead, _ = chain()
    am = AlertManager(chain=levels, clock=clock, event_log=event_log)
    inc = am.escalate("X", "boom", key="k")
    clock.advance(100)
    am.acknowledge(inc.id, by="alice")
    assert inc.status is IncidentStatus.ACKNOWLEDGED and inc.acknowledged_at == clock.now()
    clock.advance(10_000)
    assert am.tick() == [] and not lead.sent
    with pytest.raises(AlertError):
        am.acknowledge(inc.id)
    am.resolve(inc.id, by="alice", note="restarted")
    assert inc.status is IncidentStatus.RESOLVED and am.active() == []
    assert [n.kind for n in oncall.sent] == ["open", "acknowledged", "resolved"]
    with pytest.raises(AlertError):
        am.resolve(inc.id)
    with pytest.raises(AlertError, match="no incident with id 99"):
        am.acknowledge(99)
    # a new error after resolution opens a new incident
    again = am.escalate("X", "boom again", key="k")
    assert again.id != inc.id
    human = event_log.to_frame()
    assert set(human[human["component"] == "Human_Operator"]["operation"]) == {"acknowledge", "resolve"}


def test_dedup_while_open_or_acknowledged(clock: ManualClock) -> None:
    levels, oncall, _, _ = chain()
    am = AlertManager(chain=levels, clock=clock)
    a = am.escalate("X", "e1", key="redis")
    b = am.escalate("X", "e2", key="redis")
    c = am.escalate("X", "e3", key="postgres")
    assert a is b and a.count == 2 and c is not a
    am.acknowledge(a.id)
    assert am.escalate("X", "e4", key="redis") is a and a.count == 3
    assert len(oncall.sent) == 3  # open a, open c, ack a: repeats page nobody
    frame = am.to_frame()
    assert frame.set_index("key").loc["redis", "count"] == 3


def test_metric_rules_fire_dedup_and_auto_resolve(clock: ManualClock) -> None:
    metrics = Metrics()
    page = LogNotifier()
    rule = AlertRule("breaker_open", "critical",
                     condition=lambda s: s.value("supreme_breaker_state", breaker="redis",
                                                 supreme_breaker_state="open") == 1)
    miss = AlertRule("l2_misses", "warning",
                     condition=lambda s: s.value("supreme_cache_misses_total", tier="L2") >= 3)
    warn = LogNotifier()
    am = AlertManager([rule, miss], [EscalationLevel("on-call", [page])], warning_notifiers=[warn],
                      clock=clock, metrics=metrics)
    assert am.evaluate() == []
    metrics.breaker_state("redis", "open")
    for _ in range(3):
        metrics.cache_miss("L2")
    opened = am.evaluate()
    assert {i.rule for i in opened} == {"breaker_open", "l2_misses"}
    am.evaluate()
    assert len(am.active()) == 2 and am.active()[0].count == 2
    assert [n.kind for n in page.sent] == ["open"] and [n.kind for n in warn.sent] == ["warning"]
    metrics.breaker_state("redis", "closed")
    am.evaluate()
    assert [i.rule for i in am.active()] == ["l2_misses"]
    assert page.sent[-1].kind == "resolved"
    clock.advance(1e6)
    am.tick()  # warnings are only logged, never escalated
    assert [n.kind for n in warn.sent] == ["warning"]


def test_error_event_rules_and_default(clock: ManualClock) -> None:
    metrics = Metrics()
    got: list[Notification] = []
    rule = AlertRule("pg", "critical", matches=lambda e: "postgres" in e.message)
    am = AlertManager([rule], [EscalationLevel("on-call", [CallableNotifier(got.append)])], clock=clock,
                      metrics=metrics, warning_notifiers=[])
    inc = am.report(ErrorEvent("SqlTier", "postgres refused", "warning", key="l3"))
    assert inc.rule == "pg" and inc.severity == "critical"
    other = am.report(ErrorEvent("Cache_Manager", "slow L2", "warning"))
    assert other.rule == "error:Cache_Manager" and other.severity == "warning"
    assert [n.rule for n in got] == ["pg"]
    assert metrics.snapshot().value("supreme_errors_total", component="SqlTier") == 1
    with pytest.raises(AlertError):
        am.report(ErrorEvent("X", "y", "fatal"))


def test_broken_rule_and_broken_notifier_are_contained(clock: ManualClock, event_log: EventLog) -> None:
    def broken_notify(n: Notification) -> None:
        raise ConnectionError("pager down")

    ok = LogNotifier()
    bad_rule = AlertRule("bad", condition=lambda s: 1 / 0 > 0)
    am = AlertManager([bad_rule], [EscalationLevel("on-call", [CallableNotifier(broken_notify), ok])],
                      clock=clock, event_log=event_log)
    assert am.evaluate(Metrics().snapshot()) == []
    am.escalate("X", "boom")
    assert len(ok.sent) == 1 and "pager down" in am.notify_errors[0][1]
    frame = event_log.to_frame()
    assert {"evaluate", "notify"} <= set(frame[frame["outcome"] == "error"]["operation"])


def test_invalid_rules_and_levels() -> None:
    with pytest.raises(AlertError):
        AlertRule("x", "fatal", matches=lambda e: True)
    with pytest.raises(AlertError):
        AlertRule("x")
    with pytest.raises(AlertError):
        AlertRule("", matches=lambda e: True)
    with pytest.raises(AlertError):
        EscalationLevel("x", [], ack_timeout=0)
    with pytest.raises(AlertError):
        AlertManager().evaluate()


def test_webhook_notifier_posts_json(clock: ManualClock) -> None:
    posted: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posted.append(json.loads(request.content))
        return httpx.Response(200 if len(posted) == 1 else 503)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    hook = WebhookNotifier("http://alerts.invalid/hook", client=client)
    am = AlertManager(chain=[EscalationLevel("on-call", [hook])], clock=clock)
    inc = am.escalate("X", "boom", key="redis")
    assert posted[0]["kind"] == "open" and posted[0]["key"] == "redis"
    am.resolve(inc.id)
    assert len(posted) == 2 and "503" in am.notify_errors[0][1]
