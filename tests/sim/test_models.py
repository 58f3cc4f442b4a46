"""Each model: diagram steps in order, determinism, and its characteristic behaviour."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from sim.models.autoscaling import scaling_events
from sim.models.hpa import HPA
from sim.runner import MODELS, UnknownModelError, get_model, run_model
from sim.scenario import ScenarioError
from supreme.events import COLUMNS, FLOWS
from tests.sim._helpers import is_subsequence, steps

QUICK = {
    "blue_green": {"traffic.rate": 10.0},
    "autoscaling": {"duration": 240.0, "requests.record": True},  # control plane alone is deterministic
    "connection_pool": {"duration": 2.0, "load.rate": 100.0},
    "error_escalation": {"duration": 400.0, "operator.ack_median": 30.0, "operator.ack_p99": 60.0,
                         "operator.fix_median": 60.0, "operator.fix_p99": 120.0},
}


@pytest.mark.parametrize("name", sorted(QUICK))
def test_log_schema_world_and_scenario(name: str) -> None:
    log = run_model(name, QUICK[name])
    assert tuple(log.columns) == COLUMNS
    assert set(log["world"]) == {"sim"}
    assert set(log["flow"]) <= set(FLOWS)
    assert log.attrs["scenario"] == get_model(name).scenario(QUICK[name])
    assert log.attrs["scenario"]["seed"] == 0


@pytest.mark.parametrize("name", sorted(QUICK))
def test_same_seed_identical_different_seed_differs(name: str) -> None:
    a = run_model(name, {**QUICK[name], "seed": 3})
    b = run_model(name, {**QUICK[name], "seed": 3})
    assert_frame_equal(a, b)
    c = run_model(name, {**QUICK[name], "seed": 4})
    assert not a.drop(columns="run_id").equals(c.drop(columns="run_id"))


def test_registry_errors() -> None:
    assert set(MODELS) >= {"blue_green", "autoscaling", "connection_pool", "error_escalation"}
    with pytest.raises(UnknownModelError, match=r"unknown model 'nope'"):
        run_model("nope")
    with pytest.raises(ScenarioError, match=r"pool.max_sise"):
        run_model("connection_pool", {"pool.max_sise": 3})


# ---- blue-green (the rollout of deploy/k8s/base; manifest edits are tested in test_manifests.py) ----
BG_PREFIX = [("Kubernetes_API", "deploy"), ("Green_Environment", "create"),
             ("Green_Environment", "health_check"), ("Green_Environment", "smoke_test"),
             ("Monitoring", "enable"), ("Monitoring", "report"), ("CI_CD", "validate"),
             ("CI_CD", "promote"), ("Load_Balancer", "switch"), ("Monitoring", "report"),
             ("CI_CD", "validate")]


def _phase(log: pd.DataFrame, phase: str) -> pd.DataFrame:
    val = log[log["operation"] == "validate"]
    return val[[json.loads(d)["phase"] == phase for d in val["detail"]]]


def test_blue_green_good_build_promotes_after_post_analysis_and_delay() -> None:
    log = run_model("blue_green", {"traffic.rate": 20.0})
    ctl = log[log["operation"] != "serve"]
    assert is_subsequence([*BG_PREFIX, ("Blue_Environment", "scale_down"), ("CI_CD", "deployment_succeeded")],
                          steps(ctl))
    assert ("Load_Balancer", "rollback") not in steps(ctl)
    # rollout.yaml: manual promotion (operator 30 s), scaleDownDelaySeconds 30 after the post analysis
    # (analysis-template.yaml: 2 metrics x count 3, every 10 s -> last measurement 20 s after the switch)
    promote = ctl[ctl["operation"] == "promote"]
    assert float(promote["latency"].iloc[0]) == 30.0
    assert json.loads(promote["detail"].iloc[0])["auto"] is False
    switch = ctl[ctl["operation"] == "switch"]
    t_switch = float(switch["time"].iloc[0] + switch["latency"].iloc[0])
    post = _phase(ctl, "post_promotion")
    assert len(post) == 6 and float(post["time"].max()) == pytest.approx(t_switch + 20.0)
    t_down = float(ctl[ctl["component"] == "Blue_Environment"]["time"].iloc[0])
    assert t_down == pytest.approx(t_switch + 20.0 + 30.0)
    served = log[log["operation"] == "serve"]
    assert set(served["component"]) == {"Blue_Environment", "Green_Environment"}
    assert served[served["time"] > t_down]["component"].eq("Green_Environment").all()
    assert MODELS["blue_green"].summarize(log)["result"] == "succeeded"


def test_blue_green_bad_build_is_stopped_by_the_pre_promotion_analysis() -> None:
    log = run_model("blue_green", {"traffic.rate": 20.0, "green.error_rate": 0.3})
    ctl = log[log["operation"] != "serve"]
    assert is_subsequence([*BG_PREFIX[:7], ("Green_Environment", "scale_down"),
                           ("CI_CD", "deployment_aborted")], steps(ctl))
    assert ("Load_Balancer", "switch") not in steps(ctl)
    pre = _phase(ctl, "pre_promotion")
    assert pre["outcome"].iloc[-1] == "error" and json.loads(pre["detail"].iloc[-1])["value"] > 0.05
    assert MODELS["blue_green"].summarize(log)["green_requests"] == 0  # users never reached green


def test_blue_green_bug_on_live_traffic_rolls_back_to_blue() -> None:
    log = run_model("blue_green", {"traffic.rate": 20.0, "green.live_error_rate": 0.3})
    ctl = log[log["operation"] != "serve"]
    assert is_subsequence([*BG_PREFIX, ("Load_Balancer", "rollback"), ("Green_Environment", "scale_down"),
                           ("CI_CD", "deployment_rolled_back")], steps(ctl))
    assert ("Blue_Environment", "scale_down") not in steps(ctl)
    assert _phase(ctl, "pre_promotion")["outcome"].eq("ok").all()
    post = _phase(ctl, "post_promotion")
    assert post["outcome"].iloc[-1] == "error" and json.loads(post["detail"].iloc[-1])["value"] > 0.05
    t_rb = float(ctl[ctl["operation"] == "rollback"]["time"].iloc[0])
    late = log[(log["operation"] == "serve") & (log["time"] > t_rb + 1.0)]
    assert len(late) and late["component"].eq("Blue_Environment").all()
    assert MODELS["blue_green"].summarize(log)["result"] == "rolled_back"


def test_blue_green_slow_build_and_failed_readiness() -> None:
    slow = run_model("blue_green", {"green.latency_median": 0.3, "green.latency_p99": 1.0})
    assert MODELS["blue_green"].summarize(slow)["result"] == "aborted"
    p99 = _phase(slow, "pre_promotion")
    assert json.loads(p99["detail"].iloc[-1])["metric"] == "p99-latency"
    sick = run_model("blue_green", {"green.healthy": False})
    hc = sick[sick["operation"] == "health_check"]
    # deployment.yaml readiness: initialDelaySeconds 5, periodSeconds 10; rollout.yaml deadline 120 s
    assert hc["outcome"].eq("error").all() and hc["time"].diff().dropna().round(6).eq(10.0).all()
    create = sick[sick["operation"] == "create"]
    t_running = float(create["time"].iloc[0] + create["latency"].iloc[0])
    assert float(hc["time"].iloc[0]) == pytest.approx(t_running + 5.0)
    assert float(hc["time"].iloc[-1]) < 0.2 + 120.0 <= float(hc["time"].iloc[-1]) + 10.0
    aborted = sick[sick["operation"] == "deployment_aborted"]
    assert json.loads(aborted["detail"].iloc[0])["reason"] == "progress_deadline"
    assert ("Load_Balancer", "switch") not in steps(sick)


# ---- autoscaling -----------------------------------------------------------------------------
def test_hpa_reproduces_hand_computed_sequence() -> None:
    """deploy/k8s/base: 2 replicas (min 2, max 10), CPU request 1 core, targets 50 % CPU and 8 req/s per
    pod; scale-up Max(100 %, 4 pods) per 15 s, scale-down 50 % per 60 s after a 300 s window.
    0.1 CPU-s per request; 5 req/s, step to 40 req/s at 60 s, back to 5 at 300 s; a new pod is ready
    25 s after its creation (20 s container start + readinessProbe initialDelaySeconds 5).

    t=0..45: cpu 5*0.1/2 = 0.25 (ratio 0.5, rec 1), rps 2.5/8 (rec 1) -> min 2: hold.
    t=60:  cpu 2.0, ratio 4 -> rec 8 (rps 20/8 -> 5); limit max(ceil(2*2), 2+4) = 6  -> 2 -> 6.
    t=75:  2 ready, 4 unready count 0: cpu 4*2/6 = 1.33 -> ceil(1.33*6) = 8; rps 2.5*2/6 < 1 -> 6;
           limit max(12, 10)                                                       -> 6 -> 8.
    t=90:  6 ready, 2 unready: cpu 1.33*6/8 = 1.0 within tolerance -> 8; t>=105: cpu ratio 1 -> hold.
    t=300: rec 1, but the max recommendation of the last 300 s is 8 -> hold until the last 8 (t=285)
           leaves the window: t=585, limit int(8*0.5) = 4                          -> 8 -> 4;
           t=600, 615, 630: the period (60 s) started at 8 -> limit 4: hold; t=645: int(4*0.5) -> 4 -> 2.
    """
    log = run_model("autoscaling", {"duration": 650.0, "requests.enabled": False})
    assert scaling_events(log) == [(60.0, 2, 6), (75.0, 6, 8), (585.0, 8, 4), (645.0, 4, 2)]
    ready = log[(log["component"] == "Application_Pods") & (log["operation"] == "ready")]
    assert sorted(ready["time"] + ready["latency"])[-6:] == [85.0] * 4 + [100.0] * 2
    ev = log[log["operation"] == "evaluate"]
    recs = [json.loads(d)["recommendation"] for d in ev["detail"]]
    assert recs[4:8] == [8, 8, 8, 8] and recs[20] == 1
    assert [json.loads(d)["stabilized"] for d in ev["detail"]][20] == 8


def test_autoscaling_steps_in_diagram_order() -> None:
    log = run_model("autoscaling", {"duration": 650.0})
    up = [("Metrics_Collector", "collect"), ("HPA_Controller", "evaluate"),
          ("Kubernetes_API", "scale_up"), ("Application_Pods", "create"), ("Application_Pods", "ready"),
          ("Load_Balancer", "update_endpoints")]
    down = [("Metrics_Collector", "collect"), ("HPA_Controller", "evaluate"),
            ("Kubernetes_API", "scale_down"),
            ("Application_Pods", "terminate"), ("Application_Pods", "terminated"),
            ("Load_Balancer", "update_endpoints")]
    s = steps(log)
    assert is_subsequence(up + down, s)
    lb = log[log["operation"] == "update_endpoints"]
    assert json.loads(lb["detail"].iloc[-1])["endpoints"] == 2
    summary = MODELS["autoscaling"].summarize(log)
    assert summary["served"] > 0 and summary["max_replicas"] == 8


def test_autoscaling_overrides_tolerance_and_errors() -> None:
    log = run_model("autoscaling", {"load.kind": "ramp", "hpa.max_replicas": 4, "requests.enabled": False,
                                    "duration": 400.0})
    assert max(b for _, _, b in scaling_events(log)) == 4
    assert log.attrs["manifest"]["max_replicas"] == 4 and log.attrs["manifest"]["min_replicas"] == 2
    hpa = HPA()
    assert hpa.recommend(0.54, 0.5, ready=4, unready=0, current=4) == pytest.approx((1.08, 4))  # within 10 %
    assert hpa.recommend(0.56, 0.5, ready=4, unready=0, current=4)[1] == 5
    with pytest.raises(ValueError):
        HPA(min_replicas=3, max_replicas=2)
    with pytest.raises(ScenarioError, match=r"load.kind"):
        run_model("autoscaling", {"load.kind": "zigzag"})
    with pytest.raises(ScenarioError, match=r"hpa.max_replicas must be an integer"):
        run_model("autoscaling", {"hpa.max_replicas": "many"})
    with pytest.raises(ScenarioError, match=r"initial replicas \(2\) must lie in"):
        run_model("autoscaling", {"hpa.min_replicas": 3})


# ---- connection pool -------------------------------------------------------------------------
def _by_request(log: pd.DataFrame, rid: str) -> list[tuple[str, str]]:
    return steps(log[log["request_id"] == rid])


def test_connection_pool_paths_follow_the_diagram() -> None:
    log = run_model("connection_pool", {"duration": 3.0, "pool.max_size": 3, "query.scale": 30.0,
                                        "load.rate": 200.0})
    tail = [("Pool_Manager", "ready"), ("Database", "query"), ("Pool_Manager", "release"),
            ("Connection_Pool", "return"), ("Active_Set", "remove"), ("Available_Queue", "put")]
    idle = [("Pool_Manager", "request"), ("Connection_Pool", "acquire"), ("Available_Queue", "get"),
            ("Active_Set", "add"), *tail]
    new = [("Pool_Manager", "request"), ("Connection_Pool", "acquire"), ("Connection_Pool", "check_limits"),
           ("Database", "connect"), ("Health_Monitor", "validate"), ("Active_Set", "add"), *tail]
    wait = [("Pool_Manager", "request"), ("Connection_Pool", "acquire"), ("Connection_Pool", "check_limits"),
            ("Pool_Manager", "queue"), ("Available_Queue", "get"), ("Active_Set", "add"), *tail]
    paths = {tuple(_by_request(log, rid)) for rid in log["request_id"].dropna().unique()}
    assert tuple(idle) in paths and tuple(new) in paths and tuple(wait) in paths
    assert MODELS["connection_pool"].summarize(log)["connections"] == 3  # never above max_size


def test_connection_pool_times_out_under_overload() -> None:
    calm = MODELS["connection_pool"].summarize(run_model("connection_pool", {"duration": 3.0}))
    assert calm["timeouts"] == 0 and calm["served"] == calm["requests"]
    log = run_model("connection_pool", {"duration": 3.0, "pool.max_size": 2, "query.scale": 100.0,
                                        "pool.timeout": 0.1, "load.rate": 200.0})
    s = MODELS["connection_pool"].summarize(log)
    assert s["timeouts"] > 0
    assert s["served"] + s["timeouts"] == s["requests"]
    to = log[log["operation"] == "timeout"]
    assert to["latency"].round(9).eq(0.1).all()  # each waited exactly the acquire timeout
    rid = to["request_id"].iloc[0]
    assert _by_request(log, rid) == [("Pool_Manager", "request"), ("Connection_Pool", "acquire"),
                                     ("Connection_Pool", "check_limits"), ("Pool_Manager", "queue"),
                                     ("Pool_Manager", "timeout")]
    assert s["wait_p99"] <= 0.1 + 1e-9


def test_connection_pool_max_waiting_and_database_down() -> None:
    s = MODELS["connection_pool"].summarize(run_model("connection_pool", {
        "duration": 2.0, "pool.min_size": 1, "pool.max_size": 1, "pool.max_waiting": 2,
        "query.scale": 100.0}))
    assert s["rejected"] > 0
    down = run_model("connection_pool", {"duration": 2.0, "pool.min_size": 0,
                                         "faults.Database.down_at": 1.0})
    late = down[(down["operation"] == "query") & (down["time"] >= 1.0)]
    assert len(late) and late["outcome"].eq("error").all()


# ---- error escalation ------------------------------------------------------------------------
def test_error_escalation_follows_the_diagram() -> None:
    log = run_model("error_escalation", QUICK["error_escalation"])
    esc = log[log["flow"] == "error_escalation"]
    expected = [("Component", "call"), ("Error_Handler", "exception"), ("Circuit_Breaker", "check"),
                ("Error_Handler", "reconnect"), ("Error_Handler", "escalate"),
                ("Monitoring_System", "report"),
                ("Alert_Manager", "open"), ("Human_Operator", "acknowledge"),
                ("Monitoring_System", "escalate_incident"), ("Error_Handler", "escalation_context"),
                ("Component", "manual_intervention"), ("Component", "resolved"),
                ("Human_Operator", "resolve")]
    crit = esc[~((esc["component"] == "Component") & (esc["operation"] == "call"))
               | (esc["outcome"] == "error")]
    assert is_subsequence(expected, steps(crit))
    checks = esc[esc["operation"] == "check"]
    assert "open" in set(checks["outcome"])
    s = MODELS["error_escalation"].summarize(log)
    assert s["critical_incidents"] == 1 and s["time_to_ack"] > 0 and s["time_to_resolve"] > s["time_to_ack"]
    # after the repair the breaker closes again and calls succeed
    br = log[(log["component"] == "Circuit_Breaker") & (log["operation"] == "transition")]
    assert br["outcome"].iloc[-1] == "closed"


def test_slow_operator_is_escalated_to_the_next_level() -> None:
    log = run_model("error_escalation", {**QUICK["error_escalation"], "operator.ack_median": 200.0,
                                         "operator.ack_p99": 210.0, "alerts.ack_timeout": 60.0})
    assert MODELS["error_escalation"].summarize(log)["escalations"] == 1
