"""The core Kubernetes objects of deploy/k8s validate with kubernetes-validate against a pinned release."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

#: the Kubernetes release the manifests are written for (the client models of test_manifest_schemas too)
KUBERNETES = "1.36.0"
BASE = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "base"
#: kinds whose schema is a CRD's or kustomize's, validated in test_manifest_schemas against shipped schemas
NOT_CORE = {"Rollout", "AnalysisTemplate", "PodMonitor", "Kustomization"}


def _documents() -> list[tuple[str, dict[str, object]]]:
    docs = []
    for path in sorted(BASE.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") not in NOT_CORE:
                docs.append((f"{path.name}:{doc['kind']}", doc))
    return docs


@pytest.mark.parametrize(("where", "doc"), _documents(), ids=[w for w, _ in _documents()])
def test_core_object_validates_strictly(where: str, doc: dict[str, object]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_validator_refuses_an_unknown_field() -> None:
    deployment = next(d for w, d in _documents() if w.startswith("deployment.yaml"))
    broken = {**deployment, "spec": {**deployment["spec"], "replicaz": 3}}  # type: ignore[dict-item]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_every_core_kind_is_checked() -> None:
    kinds = {d["kind"] for _, d in _documents()}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap"} <= kinds
