"""The deployment models read deploy/k8s/base: editing a copy of a manifest changes what they do, exactly
as the Kubernetes / Argo Rollouts rules say (sequences computed by hand in the docstrings)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.manifests import ManifestError, default_dir, load, parse_cpu, parse_duration
from sim.models.autoscaling import scaling_events
from sim.models.hpa import HPA, ScalingPolicy, ScalingRules
from sim.runner import get_model, run_model
from sim.scenario import ScenarioError

STEP = {"duration": 650.0, "requests.enabled": False}
BASE_SEQUENCE = [(60.0, 2, 6), (75.0, 6, 8), (585.0, 8, 4), (645.0, 4, 2)]  # see test_models.py


def edited(tmp_path: Path, name: str, change: Callable[[Any], None]) -> Path:
    """A copy of deploy/k8s/base with ``change`` applied to the (first) document of ``name``."""
    folder = tmp_path / "k8s"
    shutil.copytree(default_dir(), folder)
    path = folder / name
    docs = list(yaml.safe_load_all(path.read_text()))
    change(docs[0])
    path.write_text(yaml.safe_dump_all(docs))
    return folder


def test_bundle_is_what_the_manifests_say() -> None:
    b = load()
    hpa = yaml.safe_load((default_dir() / "hpa.yaml").read_text())["spec"]
    assert (b.hpa.min_replicas, b.hpa.max_replicas) == (hpa["minReplicas"], hpa["maxReplicas"])
    assert b.hpa.cpu_utilization == hpa["metrics"][0]["resource"]["target"]["averageUtilization"] / 100
    assert b.hpa.pods_average == float(hpa["metrics"][1]["pods"]["target"]["averageValue"])
    down = hpa["behavior"]["scaleDown"]
    assert b.hpa.scale_down.stabilization_window == down["stabilizationWindowSeconds"]
    assert b.hpa.scale_down.policies == tuple(
        ScalingPolicy(p["type"], p["value"], p["periodSeconds"]) for p in down["policies"]
    )
    ro = yaml.safe_load((default_dir() / "rollout.yaml").read_text())["spec"]
    assert b.rollout.replicas == ro["replicas"] and b.rollout.auto_promotion is False
    assert [m.name for m in b.rollout.pre_analysis] == ["error-rate", "p99-latency"]
    err, p99 = b.rollout.pre_analysis
    assert (err.kind, err.threshold, err.window, err.interval, err.count) == (
        "error_rate",
        0.05,
        60.0,
        10.0,
        3,
    )
    assert (p99.kind, p99.quantile, p99.threshold) == ("quantile", 0.99, 0.25)
    assert b.readiness.period == 10.0 and b.cpu_request == 1.0


def test_max_replicas_in_the_manifest_caps_the_hpa(tmp_path: Path) -> None:
    """maxReplicas 6: t=60 2 -> min(8, limit 6, max 6) = 6; t=75 rec 8 held at 6; from t=585
    scale-down 50 %/60 s: 6 -> int(6*0.5) = 3, t=645: int(3*0.5) = 1 -> minReplicas 2."""
    folder = edited(tmp_path, "hpa.yaml", lambda d: d["spec"].update(maxReplicas=6))
    log = run_model("autoscaling", {**STEP, "manifests.dir": str(folder)})
    assert scaling_events(log) == [(60.0, 2, 6), (585.0, 6, 3), (645.0, 3, 2)]
    assert log.attrs["manifest"]["source"] == str(folder)
    assert scaling_events(run_model("autoscaling", STEP)) == BASE_SEQUENCE


def test_scale_down_policy_in_the_manifest_paces_the_scale_down(tmp_path: Path) -> None:
    """scaleDown Pods 1 per 30 s: t=585 8 -> 7; t=600 the period started at 8 -> limit 7: hold;
    t=615 (585 left the period) 7 -> 6; t=645 6 -> 5."""

    def one_pod(d: Any) -> None:
        d["spec"]["behavior"]["scaleDown"]["policies"] = [{"type": "Pods", "value": 1, "periodSeconds": 30}]

    log = run_model("autoscaling", {**STEP, "manifests.dir": str(edited(tmp_path, "hpa.yaml", one_pod))})
    assert scaling_events(log) == [(60.0, 2, 6), (75.0, 6, 8), (585.0, 8, 7), (615.0, 7, 6), (645.0, 6, 5)]


def test_stabilisation_window_and_disabled_direction_in_the_manifest(tmp_path: Path) -> None:
    """window 60 s: at t=300..330 the recs of 8 at 255..285 are in the window; t=345 8 -> 4, t=405 4 -> 2."""

    def short(d: Any) -> None:
        d["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] = 60

    log = run_model("autoscaling", {**STEP, "manifests.dir": str(edited(tmp_path / "a", "hpa.yaml", short))})
    assert scaling_events(log) == [(60.0, 2, 6), (75.0, 6, 8), (345.0, 8, 4), (405.0, 4, 2)]

    def frozen(d: Any) -> None:
        d["spec"]["behavior"]["scaleDown"]["selectPolicy"] = "Disabled"

    log = run_model("autoscaling", {**STEP, "manifests.dir": str(edited(tmp_path / "b", "hpa.yaml", frozen))})
    assert scaling_events(log) == BASE_SEQUENCE[:2]


def test_rps_target_in_the_manifest_takes_over_from_cpu(tmp_path: Path) -> None:
    """averageValue 2 req/s per pod: at 5 req/s on 2 pods rps ratio 1.25 -> ceil(2.5) = 3 at t=0;
    at 40 req/s t=60: 3 ready, rps 13.3/2 -> 20 (cpu says 8); limit max(6, 7) = 7."""

    def low(d: Any) -> None:
        d["spec"]["metrics"][1]["pods"]["target"]["averageValue"] = "2"

    log = run_model("autoscaling", {**STEP, "manifests.dir": str(edited(tmp_path, "hpa.yaml", low))})
    assert scaling_events(log)[:2] == [(0.0, 2, 3), (60.0, 3, 7)]


def test_readiness_delay_in_the_manifest_delays_new_pods(tmp_path: Path) -> None:
    """initialDelaySeconds 30: pods created at 60 and 75 are ready at 110 and 125; the decisions stay
    (t=90: 2 ready, 6 unready -> 4 * 2 / 8 = 1.0 within tolerance; t=120: 1.33 * 6 / 8 = 1.0)."""

    def slow(d: Any) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["initialDelaySeconds"] = 30

    log = run_model("autoscaling", {**STEP, "manifests.dir": str(edited(tmp_path, "deployment.yaml", slow))})
    ready = log[(log["component"] == "Application_Pods") & (log["operation"] == "ready")]
    assert sorted(ready["time"] + ready["latency"])[-6:] == [110.0] * 4 + [125.0] * 2
    assert scaling_events(log) == BASE_SEQUENCE


def test_readiness_probe_and_progress_deadline_come_from_the_manifests(tmp_path: Path) -> None:
    def fast(d: Any) -> None:
        probe = d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
        probe.update(periodSeconds=5, initialDelaySeconds=0)

    folder = edited(tmp_path, "deployment.yaml", fast)
    ro = yaml.safe_load((folder / "rollout.yaml").read_text())
    ro["spec"]["progressDeadlineSeconds"] = 60
    (folder / "rollout.yaml").write_text(yaml.safe_dump(ro))
    sick = run_model("blue_green", {"green.healthy": False, "manifests.dir": str(folder)})
    hc = sick[sick["operation"] == "health_check"]
    create = sick[sick["operation"] == "create"]
    assert float(hc["time"].iloc[0]) == pytest.approx(
        float(create["time"].iloc[0] + create["latency"].iloc[0])
    )
    assert hc["time"].diff().dropna().round(6).eq(5.0).all()
    assert float(hc["time"].iloc[-1]) < 0.2 + 60.0 <= float(hc["time"].iloc[-1]) + 5.0
    assert get_model("blue_green").summarize(sick)["result"] == "aborted"


def test_analysis_threshold_and_count_come_from_the_template(tmp_path: Path) -> None:
    """A build failing 3 % of requests passes error-rate <= 0.05 and fails <= 0.01 (aborted unseen)."""
    scenario = {"green.error_rate": 0.03, "preview.rate": 20.0}
    assert get_model("blue_green").summarize(run_model("blue_green", scenario))["result"] == "succeeded"

    def strict(d: Any) -> None:
        d["spec"]["metrics"][0]["successCondition"] = "result[0] <= 0.01"
        d["spec"]["metrics"][0]["count"] = 5

    folder = edited(tmp_path, "analysis-template.yaml", strict)
    log = run_model("blue_green", {**scenario, "manifests.dir": str(folder)})
    assert get_model("blue_green").summarize(log)["result"] == "aborted"
    val = log[log["operation"] == "validate"]
    assert json.loads(val["detail"].iloc[-1])["threshold"] == 0.01
    assert get_model("blue_green").summarize(log)["green_requests"] == 0


def test_a_failing_post_promotion_analysis_rolls_back_and_without_it_the_bug_ships(tmp_path: Path) -> None:
    bug = {"green.live_error_rate": 0.3}
    log = run_model("blue_green", bug)
    assert get_model("blue_green").summarize(log)["result"] == "rolled_back"
    steps = list(zip(log["component"], log["operation"], strict=True))
    assert steps.index(("Load_Balancer", "rollback")) > steps.index(("Load_Balancer", "switch"))

    def no_post(d: Any) -> None:
        del d["spec"]["strategy"]["blueGreen"]["postPromotionAnalysis"]
        d["spec"]["strategy"]["blueGreen"].update(autoPromotionEnabled=True, autoPromotionSeconds=10)

    shipped = run_model(
        "blue_green", {**bug, "manifests.dir": str(edited(tmp_path, "rollout.yaml", no_post))}
    )
    s = get_model("blue_green").summarize(shipped)
    assert s["result"] == "succeeded" and s["green_error_rate"] > 0.2
    promote = shipped[shipped["operation"] == "promote"]
    assert float(promote["latency"].iloc[0]) == 10.0 and json.loads(promote["detail"].iloc[0])["auto"] is True


def test_bad_manifests_raise_errors_naming_file_and_field(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"does not exist"):
        load(tmp_path / "nowhere")
    folder = edited(tmp_path / "a", "hpa.yaml", lambda d: d["spec"].update(maxReplicas="ten"))
    with pytest.raises(ManifestError, match=r"hpa.yaml HorizontalPodAutoscaler/supreme spec.maxReplicas"):
        load(folder)
    with pytest.raises(ScenarioError, match=r"spec.maxReplicas"):
        run_model("autoscaling", {"manifests.dir": str(folder)})

    def odd_query(d: Any) -> None:
        d["spec"]["metrics"][1]["provider"]["prometheus"]["query"] = "up[1m]"

    with pytest.raises(
        ManifestError, match=r"analysis-template.yaml AnalysisTemplate/supreme-slo metric p99-latency"
    ):
        load(edited(tmp_path / "b", "analysis-template.yaml", odd_query))
    (tmp_path / "c").mkdir()
    shutil.copytree(default_dir(), tmp_path / "c" / "k8s")
    (tmp_path / "c" / "k8s" / "pdb.yaml").write_text("kind: [unclosed\n")
    with pytest.raises(ManifestError, match=r"pdb.yaml: not valid YAML"):
        load(tmp_path / "c" / "k8s")
    with pytest.raises(ManifestError, match=r"not a duration"):
        parse_duration("ten seconds", "x")
    assert parse_cpu("500m", "x") == 0.5 and parse_duration("1m", "x") == 60.0


def test_hpa_rules_select_policy_rounding_and_tolerance() -> None:
    up = ScalingRules(0.0, (ScalingPolicy("Pods", 1, 60.0), ScalingPolicy("Percent", 50, 60.0)), "Min")
    down = ScalingRules(0.0, (ScalingPolicy("Percent", 30, 60.0),), tolerance=0.5)
    hpa = HPA(min_replicas=1, max_replicas=100, scale_up=up, scale_down=down)
    # Min picks the smaller change: min(4 + 1, ceil(4 * 1.5) = 6) = 5
    assert hpa.decide(0.0, [("cpu", 2.0, 0.5)], 4, 0, 4).desired == 5
    # the period began at 4: limit min(4 + 1, 6) = 5 again, so no further step within 60 s
    assert hpa.decide(15.0, [("cpu", 2.0, 0.5)], 5, 0, 5).desired == 5
    # scale-down tolerance 0.5: ratio 0.6 is within it; ratio 0.2 -> rec 1, limit int(5 * 0.7) = 3
    assert hpa.decide(120.0, [("cpu", 0.3, 0.5)], 5, 0, 5).desired == 5
    assert hpa.decide(135.0, [("cpu", 0.1, 0.5)], 5, 0, 5).desired == 3
    # the larger of two metrics' proposals wins
    two = HPA(max_replicas=20)
    assert two.decide(0.0, [("cpu", 0.5, 0.5), ("rps", 30.0, 10.0)], 4, 0, 4).recommendation == 12
    with pytest.raises(ValueError, match="selectPolicy"):
        ScalingRules(0.0, (ScalingPolicy("Pods", 1, 15.0),), "Sometimes")
