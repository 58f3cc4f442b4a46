"""The deployment manifests (``deploy/k8s/base``) as the parameters of the deployment models.

One loader for :mod:`sim.models.blue_green` and :mod:`sim.models.autoscaling`, so editing a manifest
changes the simulation.  What is read, and from where::

    Deployment  spec.template.spec.containers[0]   resources.requests.cpu, readinessProbe, livenessProbe
    Rollout     spec.replicas, progressDeadlineSeconds, strategy.blueGreen (autoPromotionEnabled,
                autoPromotionSeconds, scaleDownDelaySeconds, pre/postPromotionAnalysis.templates)
    AnalysisTemplate  spec.metrics[]: interval, count, failureLimit, successCondition, prometheus.query
    HorizontalPodAutoscaler  minReplicas, maxReplicas, metrics[] (Resource cpu Utilization, Pods
                AverageValue), behavior.scaleUp / scaleDown (stabilizationWindowSeconds, selectPolicy,
                policies, tolerance)

A query is understood when it is one of the two shapes the AnalysisTemplate uses: a ratio of
``supreme_requests_total`` with ``status=~"5.."`` (error rate) or ``histogram_quantile(q, ...
supreme_request_latency_seconds_bucket ...)`` (latency quantile); its ``[1m]`` range is the window.
Anything else raises :class:`ManifestError` naming the file and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sim.errors import SimError
from sim.models.hpa import DEFAULT_SCALE_DOWN, DEFAULT_SCALE_UP, ScalingPolicy, ScalingRules

__all__ = [
    "AnalysisMetric",
    "Bundle",
    "HPASpec",
    "ManifestError",
    "Probe",
    "RolloutSpec",
    "default_dir",
    "load",
    "parse_cpu",
    "parse_duration",
]


class ManifestError(SimError, ValueError):
    """A manifest is missing, unreadable, or lacks a field the models need; names file and field."""


def default_dir() -> Path:
    """``deploy/k8s/base`` of this checkout."""
    return Path(__file__).resolve().parent.parent / "deploy" / "k8s" / "base"


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any, where: str) -> float:
    """Seconds of an Argo/Prometheus duration (``10s``, ``1m``, ``500ms``, or a number of seconds)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    m = _DURATION.match(str(value).strip())
    if not m:
        raise ManifestError(f"{where}: {value!r} is not a duration like 10s, 1m or 500ms")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_cpu(value: Any, where: str) -> float:
    """Cores of a Kubernetes CPU quantity (``500m``, ``1``, ``0.5``)."""
    text = str(value).strip()
    try:
        cores = float(text[:-1]) / 1000.0 if text.endswith("m") else float(text)
    except ValueError:
        raise ManifestError(f"{where}: {value!r} is not a CPU quantity like 500m or 1") from None
    if cores <= 0:
        raise ManifestError(f"{where}: CPU must be > 0, got {value!r}")
    return cores


@dataclass(frozen=True)
class Probe:
    """A container probe's timing (Kubernetes defaults for what is left out)."""

    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3


@dataclass(frozen=True)
class AnalysisMetric:
    """One AnalysisTemplate metric the model can evaluate."""

    name: str
    kind: str  # "error_rate" or "quantile"
    quantile: float  # for kind "quantile"
    op: str  # "<=" or "<"
    threshold: float
    interval: float
    count: int
    failure_limit: int
    window: float

    def passes(self, value: float) -> bool:
        """The successCondition ``result[0] <op> threshold``."""
        return value <= self.threshold if self.op == "<=" else value < self.threshold


@dataclass(frozen=True)
class RolloutSpec:
    """What the blue-green model reads from the Rollout and its analysis templates."""

    replicas: int
    progress_deadline: float
    auto_promotion: bool
    auto_promotion_seconds: float
    scale_down_delay: float
    pre_analysis: tuple[AnalysisMetric, ...]
    post_analysis: tuple[AnalysisMetric, ...]


@dataclass(frozen=True)
class HPASpec:
    """What the autoscaling model reads from the HorizontalPodAutoscaler."""

    min_replicas: int
    max_replicas: int
    cpu_utilization: float | None  # target fraction of the CPU request
    pods_metric: str | None
    pods_average: float | None  # target average value per pod
    scale_up: ScalingRules
    scale_down: ScalingRules


@dataclass(frozen=True)
class Bundle:
    """Every parameter the deployment models take from the manifests, with the folder read."""

    source: Path
    cpu_request: float
    readiness: Probe
    liveness: Probe
    rollout: RolloutSpec
    hpa: HPASpec


def _get(doc: Any, path: str, where: str, default: Any = ...) -> Any:
    node = doc
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        elif default is not ...:
            return default
        else:
            raise ManifestError(f"{where}: missing field {path}")
    return node


def _int(value: Any, where: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ManifestError(f"{where}: must be an integer >= {minimum}, got {value!r}")
    return value


def _documents(folder: Path) -> dict[tuple[str, str], tuple[dict[str, Any], str]]:
    if not folder.is_dir():
        raise ManifestError(
            f"manifest folder {folder} does not exist (an installed package has no deploy/: "
            "set the scenario key manifests.dir to a copy of deploy/k8s/base)"
        )
    docs: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            parsed = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except yaml.YAMLError as exc:
            raise ManifestError(f"{path}: not valid YAML: {exc}") from exc
        for i, doc in enumerate(d for d in parsed if d is not None):
            if not isinstance(doc, dict) or "kind" not in doc:
                raise ManifestError(f"{path} document {i}: not a Kubernetes object (no kind)")
            name = _get(doc, "metadata.name", f"{path} document {i}", "")
            docs[(str(doc["kind"]), str(name))] = (doc, f"{path.name} {doc['kind']}/{name}")
    return docs


def _one(
    docs: dict[tuple[str, str], tuple[dict[str, Any], str]], kind: str, folder: Path, name: str | None = None
) -> tuple[dict[str, Any], str]:
    found = [v for (k, n), v in docs.items() if k == kind and (name is None or n == name)]
    if len(found) != 1:
        what = f"{kind}/{name}" if name else kind
        raise ManifestError(f"{folder}: expected exactly one {what}, found {len(found)}")
    return found[0]


def _probe(node: Any, where: str) -> Probe:
    if not isinstance(node, dict):
        raise ManifestError(f"{where}: missing probe")
    return Probe(
        initial_delay=float(_int(node.get("initialDelaySeconds", 0), f"{where}.initialDelaySeconds")),
        period=float(_int(node.get("periodSeconds", 10), f"{where}.periodSeconds", 1)),
        timeout=float(_int(node.get("timeoutSeconds", 1), f"{where}.timeoutSeconds", 1)),
        success_threshold=_int(node.get("successThreshold", 1), f"{where}.successThreshold", 1),
        failure_threshold=_int(node.get("failureThreshold", 3), f"{where}.failureThreshold", 1),
    )


_CONDITION = re.compile(r"^\s*result\[0\]\s*(<=|<)\s*([0-9.eE+-]+)\s*$")
_RANGE = re.compile(r"\[(\d+(?:\.\d+)?(?:ms|s|m|h))\]")
_QUANTILE = re.compile(r"histogram_quantile\(\s*([0-9.]+)\s*,.*supreme_request_latency_seconds_bucket", re.S)


def _metric(node: dict[str, Any], where: str) -> AnalysisMetric:
    name = str(node.get("name", "?"))
    where = f"{where} metric {name}"
    cond = _CONDITION.match(str(_get(node, "successCondition", where)))
    if not cond:
        raise ManifestError(f"{where}: successCondition must read 'result[0] <= NUMBER' (or <)")
    query = str(_get(node, "provider.prometheus.query", where))
    ranges = {parse_duration(r, where) for r in _RANGE.findall(query)}
    if len(ranges) != 1:
        raise ManifestError(f"{where}: the query needs one range such as [1m], found {sorted(ranges)}")
    q = _QUANTILE.search(query)
    if q:
        kind, quantile = "quantile", float(q.group(1))
    elif "supreme_requests_total" in query and '"5.."' in query:
        kind, quantile = "error_rate", 0.0
    else:
        raise ManifestError(
            f"{where}: query is neither a supreme_requests_total 5xx ratio nor a "
            "histogram_quantile of supreme_request_latency_seconds_bucket"
        )
    return AnalysisMetric(
        name=name,
        kind=kind,
        quantile=quantile,
        op=cond.group(1),
        threshold=float(cond.group(2)),
        interval=parse_duration(node.get("interval", "0s"), f"{where}.interval"),
        count=_int(node.get("count", 1), f"{where}.count", 1),
        failure_limit=_int(node.get("failureLimit", 0), f"{where}.failureLimit"),
        window=ranges.pop(),
    )


def _analysis(
    docs: dict[tuple[str, str], tuple[dict[str, Any], str]], step: Any, folder: Path, where: str
) -> tuple[AnalysisMetric, ...]:
    if step is None:
        return ()
    metrics: list[AnalysisMetric] = []
    for ref in _get(step, "templates", where):
        tdoc, twhere = _one(docs, "AnalysisTemplate", folder, str(_get(ref, "templateName", where)))
        metrics += [_metric(m, twhere) for m in _get(tdoc, "spec.metrics", twhere)]
    return tuple(metrics)


def _rollout(docs: dict[tuple[str, str], tuple[dict[str, Any], str]], folder: Path) -> RolloutSpec:
    doc, where = _one(docs, "Rollout", folder)
    bg = _get(doc, "spec.strategy.blueGreen", where)
    for key in ("activeService", "previewService"):
        _get(bg, key, f"{where} spec.strategy.blueGreen")
    return RolloutSpec(
        replicas=_int(_get(doc, "spec.replicas", where, 1), f"{where} spec.replicas", 1),
        progress_deadline=float(
            _int(
                _get(doc, "spec.progressDeadlineSeconds", where, 600),
                f"{where} spec.progressDeadlineSeconds",
                1,
            )
        ),
        auto_promotion=bool(bg.get("autoPromotionEnabled", True)),
        auto_promotion_seconds=float(
            _int(bg.get("autoPromotionSeconds", 0), f"{where} autoPromotionSeconds")
        ),
        scale_down_delay=float(_int(bg.get("scaleDownDelaySeconds", 30), f"{where} scaleDownDelaySeconds")),
        pre_analysis=_analysis(docs, bg.get("prePromotionAnalysis"), folder, f"{where} prePromotionAnalysis"),
        post_analysis=_analysis(
            docs, bg.get("postPromotionAnalysis"), folder, f"{where} postPromotionAnalysis"
        ),
    )


def _rules(node: Any, default: ScalingRules, where: str) -> ScalingRules:
    if node is None:
        return default
    policies = (
        tuple(
            ScalingPolicy(
                str(_get(p, "type", where)),
                _int(_get(p, "value", where), f"{where} value", 1),
                float(_int(_get(p, "periodSeconds", where), f"{where} periodSeconds", 1)),
            )
            for p in node.get("policies", [])
        )
        or default.policies
    )
    tol = node.get("tolerance")
    try:
        return ScalingRules(
            stabilization_window=float(
                _int(
                    node.get("stabilizationWindowSeconds", default.stabilization_window),
                    f"{where} stabilizationWindowSeconds",
                )
            ),
            policies=policies,
            select_policy=str(node.get("selectPolicy", "Max")),
            tolerance=None if tol is None else float(tol),
        )
    except ValueError as exc:
        raise ManifestError(f"{where}: {exc}") from exc


def _hpa(docs: dict[tuple[str, str], tuple[dict[str, Any], str]], folder: Path) -> HPASpec:
    doc, where = _one(docs, "HorizontalPodAutoscaler", folder)
    if doc.get("apiVersion") != "autoscaling/v2":
        raise ManifestError(f"{where}: apiVersion must be autoscaling/v2, got {doc.get('apiVersion')!r}")
    spec = doc["spec"] if isinstance(doc.get("spec"), dict) else {}
    cpu = pods_metric = pods_avg = None
    for i, m in enumerate(_get(doc, "spec.metrics", where)):
        mw = f"{where} spec.metrics[{i}]"
        if m.get("type") == "Resource" and _get(m, "resource.name", mw) == "cpu":
            cpu = (
                _int(_get(m, "resource.target.averageUtilization", mw), f"{mw} averageUtilization", 1) / 100.0
            )
        elif m.get("type") == "Pods":
            pods_metric = str(_get(m, "pods.metric.name", mw))
            try:
                pods_avg = float(str(_get(m, "pods.target.averageValue", mw)))
            except ValueError:
                raise ManifestError(f"{mw}: pods.target.averageValue must be a plain number") from None
        else:
            raise ManifestError(
                f"{mw}: only Resource cpu and Pods metrics are modelled, got {m.get('type')!r}"
            )
    lo = _int(spec.get("minReplicas", 1), f"{where} spec.minReplicas", 1)
    hi = _int(_get(doc, "spec.maxReplicas", where), f"{where} spec.maxReplicas", lo)
    behavior = spec.get("behavior") or {}
    return HPASpec(
        lo,
        hi,
        cpu,
        pods_metric,
        pods_avg,
        _rules(behavior.get("scaleUp"), DEFAULT_SCALE_UP, f"{where} behavior.scaleUp"),
        _rules(behavior.get("scaleDown"), DEFAULT_SCALE_DOWN, f"{where} behavior.scaleDown"),
    )


def load(folder: str | Path | None = None) -> Bundle:
    """Read the manifests in ``folder`` (default :func:`default_dir`) into the models' parameters."""
    root = Path(folder) if folder else default_dir()
    docs = _documents(root)
    dep, where = _one(docs, "Deployment", root)
    container = _get(dep, "spec.template.spec.containers.0", where)
    cw = f"{where} containers[0]"
    return Bundle(
        source=root,
        cpu_request=parse_cpu(_get(container, "resources.requests.cpu", cw), f"{cw} resources.requests.cpu"),
        readiness=_probe(container.get("readinessProbe"), f"{cw} readinessProbe"),
        liveness=_probe(container.get("livenessProbe"), f"{cw} livenessProbe"),
        rollout=_rollout(docs, root),
        hpa=_hpa(docs, root),
    )
