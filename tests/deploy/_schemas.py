"""Offline validators for deploy/: Kubernetes objects against the kubernetes client's generated models
(the OpenAPI document of the pinned release), CRD objects and compose against shipped JSON schemas.

The kubernetes client models carry, for every object of the API, its fields (``attribute_map``),
their types (``openapi_types``) and the required ones (their setters reject ``None``); walking a
manifest through them is what ``kubeconform -strict`` does with the JSON schemas.
"""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "k8s" / "base"

#: apiVersion/kind -> the kubernetes client model of that object
CORE_KINDS = {
    ("apps/v1", "Deployment"): "V1Deployment",
    ("v1", "Service"): "V1Service",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Secret"): "V1Secret",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "V2HorizontalPodAutoscaler",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
}
CRD_SCHEMAS = {
    ("argoproj.io/v1alpha1", "Rollout"): "argo-rollouts/rollout-v1alpha1.json.gz",
    ("argoproj.io/v1alpha1", "AnalysisTemplate"): "argo-rollouts/analysistemplate-v1alpha1.json.gz",
    ("monitoring.coreos.com/v1", "PodMonitor"): "prometheus-operator/podmonitor-v1.json.gz",
}
_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "bool": (bool,),
    "float": (int, float),
    "datetime": (str,),
    "date": (str,),
}


def documents(folder: Path = BASE) -> list[tuple[str, dict[str, Any]]]:
    """``(file name, object)`` of every YAML document in ``folder``."""
    out = []
    for path in sorted(folder.glob("*.yaml")):
        out += [(path.name, d) for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    return out


def _walk(node: Any, type_name: str, path: str, errors: list[str]) -> None:
    from kubernetes import client

    if type_name == "object":
        return
    if type_name.startswith("list["):
        if not isinstance(node, list):
            errors.append(f"{path}: expected a list, got {type(node).__name__}")
            return
        for i, item in enumerate(node):
            _walk(item, type_name[5:-1], f"{path}[{i}]", errors)
        return
    if type_name.startswith(("dict(", "dict[")):
        if not isinstance(node, dict):
            errors.append(f"{path}: expected a mapping, got {type(node).__name__}")
            return
        inner = type_name[5:-1].split(", ", 1)[1]
        for key, value in node.items():
            _walk(value, inner, f"{path}.{key}", errors)
        return
    if type_name in _PRIMITIVES:
        ok = isinstance(node, _PRIMITIVES[type_name]) and not (type_name != "bool" and isinstance(node, bool))
        if not ok:
            errors.append(f"{path}: expected {type_name}, got {node!r}")
        return
    model = getattr(client, type_name)
    if not isinstance(node, dict):
        errors.append(f"{path}: expected a {type_name} mapping, got {type(node).__name__}")
        return
    fields = {json_name: attr for attr, json_name in model.attribute_map.items()}
    for key, value in node.items():
        if key not in fields:
            errors.append(f"{path}.{key}: unknown field of {type_name}")
        else:
            _walk(value, model.openapi_types[fields[key]], f"{path}.{key}", errors)


def core_errors(doc: dict[str, Any]) -> list[str]:
    """Problems of one core Kubernetes object: unknown fields, wrong types, missing required fields."""
    from kubernetes import client

    type_name = CORE_KINDS[(doc.get("apiVersion"), doc.get("kind"))]
    errors: list[str] = []
    _walk(doc, type_name, doc["kind"], errors)
    if not errors:
        try:  # the generated setters reject a missing required field
            client.ApiClient()._ApiClient__deserialize(copy.deepcopy(doc), type_name)  # type: ignore[attr-defined]
        except ValueError as exc:
            errors.append(f"{doc['kind']}: {exc}")
    return errors


def _strict(schema: Any) -> Any:
    """Forbid fields the schema does not name (kubeconform -strict), except preserve-unknown nodes."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    """The strict JSON schema of a custom resource (Argo Rollouts, PodMonitor), from deploy/schemas/."""
    raw = gzip.decompress((DEPLOY / "schemas" / CRD_SCHEMAS[(api_version, kind)]).read_bytes())
    return _strict(json.loads(raw))


def crd_errors(doc: dict[str, Any]) -> list[str]:
    """Problems of one custom resource against its CRD's openAPIV3Schema."""
    schema = crd_schema(doc["apiVersion"], doc["kind"])
    body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{doc['kind']}.{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(body)
    ]


def compose_errors(doc: dict[str, Any]) -> list[str]:
    """Problems of a compose file against the Compose Specification schema."""
    schema = json.loads((DEPLOY / "schemas" / "compose" / "compose-spec.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
