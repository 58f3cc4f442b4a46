"""Auto-scaling (seed diagram "Auto-Scaling Sequence"): a Kubernetes HPA over application pods.

The HPA, the pods' CPU request and the initial replicas come from the manifests
(``deploy/k8s/base``: hpa.yaml, deployment.yaml, rollout.yaml, read by :mod:`sim.manifests`);
a scenario key ``hpa.*`` left at ``null`` takes the manifest's value, a set one overrides it.
Every ``hpa.sync_period`` s (15 s, the controller's flag)::

    Metrics_Collector.collect       CPU utilisation = arrival rate x service time / (ready pods x CPU
                                    request), requests/s per pod = arrival rate / ready pods
    HPA_Controller.evaluate         sim.models.hpa.HPA: per-metric replicas, max over metrics,
                                    stabilisation windows, behavior policies, min/max replicas
    scale up:   Kubernetes_API.scale_up -> Application_Pods.create
                ... ready after pods.startup_delay (container start) + the readiness probe's
                initialDelaySeconds + (successThreshold - 1) x periodSeconds:
                Application_Pods.ready -> Load_Balancer.update_endpoints
    scale down: Kubernetes_API.scale_down -> Application_Pods.terminate -> Application_Pods.terminated
                -> Load_Balancer.update_endpoints

Requests (Poisson at the scenario's load, ``load.kind`` constant/step/ramp)
are served by a SimPy store of ready pods, so capacity follows ready pods and
queueing appears when they are short; a pod serves one request at a time, busy one
core for ``pods.service_time`` s (a parameter: the repo has no calibrated per-request CPU cost).
The metrics use the offered load, not the measured one, so a scaling sequence can be computed by
hand; pods still starting count as unready for both metrics.  Departures
from Kubernetes: endpoints are updated after pods terminate (the diagram's
order; Kubernetes removes them first); pending pods are terminated before
ready ones, newest first; in-flight requests finish on a terminated pod.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import simpy

from sim.manifests import Bundle, ManifestError, load
from sim.models._context import SimContext
from sim.models.hpa import HPA, ScalingRules
from sim.scenario import ScenarioError, load_defaults, make_scenario

__all__ = ["DEFAULTS", "FLOW", "NAME", "effective", "offered_load", "run", "scaling_events", "summarize"]

NAME = "autoscaling"
FLOW = "autoscaling"

DEFAULTS: dict[str, Any] = load_defaults(NAME)


def offered_load(sc: Mapping[str, Any], t: float) -> float:
    """Arrival rate (requests/s) at time ``t``."""
    kind, base, peak, at = sc["load.kind"], sc["load.base"], sc["load.peak"], sc["load.at"]
    drop = sc["load.drop_at"]
    if drop is not None and t >= float(drop):
        return float(base)
    if kind == "constant":
        return float(base)
    if kind == "step":
        return float(peak if t >= at else base)
    if kind == "ramp":
        if t < at:
            return float(base)
        frac = min(1.0, (t - at) / max(sc["load.ramp_for"], 1e-9))
        return float(base + (peak - base) * frac)
    raise ScenarioError(f"load.kind must be constant, step or ramp, got {kind!r}")


class _Pods:
    """Ready pods as a SimPy store of pod ids (capacity = ready pods), plus pending ones."""

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.store: simpy.Store = simpy.Store(ctx.env)
        self.ready: list[int] = []
        self.pending: dict[int, simpy.Process] = {}
        self.gone: set[int] = set()
        self._next = 0

    @property
    def current(self) -> int:
        return len(self.ready) + len(self.pending)

    def create(self, n: int, delay: float) -> None:
        for _ in range(n):
            pid, self._next = self._next, self._next + 1
            self.pending[pid] = self.ctx.env.process(self._start(pid, delay))

    def _start(self, pid: int, delay: float) -> Generator[simpy.Event, Any, None]:
        t0 = self.ctx.env.now
        if delay > 0:
            yield self.ctx.env.timeout(delay)
        if pid in self.gone:
            return
        del self.pending[pid]
        self.ready.append(pid)
        self.store.put(pid)
        self.ctx.step("Application_Pods", "ready", frm="Kubernetes_API", time=t0,
                      latency=self.ctx.env.now - t0, pod=pid)
        self.ctx.step("Load_Balancer", "update_endpoints", frm="Kubernetes_API", endpoints=len(self.ready))

    def terminate(self, n: int) -> list[int]:
        victims = sorted(self.pending, reverse=True)[:n]
        victims += sorted(self.ready, reverse=True)[: n - len(victims)]
        for pid in victims:
            self.gone.add(pid)
            if pid in self.pending:
                del self.pending[pid]
            else:
                self.ready.remove(pid)
                if pid in self.store.items:
                    self.store.items.remove(pid)  # idle pod: leaves at once; busy ones on release
        return victims


def effective(sc: Mapping[str, Any], bundle: Bundle | None = None) -> dict[str, Any]:
    """The HPA parameters a run uses: the manifests', overridden by the scenario's non-null ``hpa.*``."""
    try:
        b = bundle or load(sc["manifests.dir"])
    except ManifestError as exc:
        raise ScenarioError(str(exc)) from exc
    h = b.hpa
    window = sc["hpa.downscale_window"]
    out: dict[str, Any] = {
        "source": str(b.source),
        "min_replicas": h.min_replicas, "max_replicas": h.max_replicas,
        "initial_replicas": b.rollout.replicas,
        "target_utilization": h.cpu_utilization, "target_rps": h.pods_average,
        "cpu_request": b.cpu_request,
        "readiness_delay": (b.readiness.initial_delay
                            + (b.readiness.success_threshold - 1) * b.readiness.period),
        "scale_up": h.scale_up,
        "scale_down": h.scale_down if window is None else ScalingRules(
            float(window), h.scale_down.policies, h.scale_down.select_policy, h.scale_down.tolerance),
    }
    for key in ("min_replicas", "max_replicas", "initial_replicas"):
        value = sc[f"hpa.{key}"]
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ScenarioError(f"hpa.{key} must be an integer, got {value!r}")
            out[key] = value
    for key in ("target_utilization", "target_rps"):
        value = sc[f"hpa.{key}"]
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ScenarioError(f"hpa.{key} must be a number > 0, got {value!r}")
            out[key] = float(value)
    if out["target_utilization"] is None and out["target_rps"] is None:
        raise ScenarioError(f"{b.source}: the HPA has neither a cpu nor a Pods metric target")
    return out


def _controller(ctx: SimContext, pods: _Pods, sc: Mapping[str, Any], p: Mapping[str, Any]
                ) -> Generator[simpy.Event, Any, None]:
    env = ctx.env
    hpa = HPA(min_replicas=p["min_replicas"], max_replicas=p["max_replicas"], tolerance=sc["hpa.tolerance"],
              scale_up=p["scale_up"], scale_down=p["scale_down"])
    while True:
        now = env.now
        ready, unready = len(pods.ready), len(pods.pending)
        rate = offered_load(sc, now)
        util = rate * sc["pods.service_time"] / (ready * p["cpu_request"]) if ready else 0.0
        rps = rate / ready if ready else 0.0
        ctx.step("Metrics_Collector", "collect", rate=rate, ready=ready, utilization=round(util, 6),
                 rps_per_pod=round(rps, 6))
        metrics = []
        if p["target_utilization"] is not None:
            metrics.append(("cpu", util, p["target_utilization"]))
        if p["target_rps"] is not None:
            metrics.append(("rps", rps, p["target_rps"]))
        d = hpa.decide(now, metrics, ready, unready, pods.current)
        action = "scale_up" if d.desired > d.current else "scale_down" if d.desired < d.current else "hold"
        ctx.step("HPA_Controller", "evaluate", action, frm="Metrics_Collector",
                 ratios={k: round(v, 6) for k, v in d.ratios.items()}, recommendation=d.recommendation,
                 stabilized=d.stabilized, current=d.current, desired=d.desired)
        if action != "hold":
            start = sc["pods.startup_delay"] + p["readiness_delay"]
            env.process(_apply(ctx, pods, sc, action, d.current, d.desired, start))
        yield env.timeout(sc["hpa.sync_period"])


def _apply(ctx: SimContext, pods: _Pods, sc: Mapping[str, Any], action: str, current: int,
           desired: int, ready_after: float) -> Generator[simpy.Event, Any, None]:
    api = sc["k8s.api_latency"]
    ctx.step("Kubernetes_API", action, frm="HPA_Controller", latency=api, replicas_from=current,
             replicas_to=desired)
    if action == "scale_up":
        n = desired - current
        ctx.step("Application_Pods", "create", frm="Kubernetes_API", pods=n)
        pods.create(n, api + ready_after)
        return
    if api > 0:
        yield ctx.env.timeout(api)
    victims = pods.terminate(current - desired)
    ctx.step("Application_Pods", "terminate", frm="Kubernetes_API", pods=len(victims))
    ctx.step("Application_Pods", "terminated", to="Kubernetes_API", pods=len(victims))
    ctx.step("Load_Balancer", "update_endpoints", frm="Kubernetes_API", endpoints=len(pods.ready))


class _Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.waits: list[float] = []


def _arrivals(ctx: SimContext, pods: _Pods, sc: Mapping[str, Any], stats: _Stats,
              until: float) -> Generator[simpy.Event, Any, None]:
    env = ctx.env
    while env.now < until:
        rate = offered_load(sc, env.now)
        if rate <= 0:
            yield env.timeout(1.0)
            continue
        yield env.timeout(ctx.rng.exponential(1.0 / rate))
        env.process(_request(ctx, pods, sc, stats))


def _request(ctx: SimContext, pods: _Pods, sc: Mapping[str, Any], stats: _Stats
             ) -> Generator[simpy.Event, Any, None]:
    env, t0 = ctx.env, ctx.env.now
    pid = yield pods.store.get()
    waited = env.now - t0
    service = ctx.rng.exponential(sc["pods.service_time"])
    yield env.timeout(service)
    if pid not in pods.gone:
        pods.store.put(pid)
    stats.waits.append(waited)
    stats.latencies.append(env.now - t0)
    if sc["requests.record"]:
        ctx.step("Application_Pods", "serve", frm="Load_Balancer", time=t0, request_id=ctx.request_id(),
                 latency=env.now - t0, pod=pid, wait=round(waited, 9))


def run(scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Simulate the HPA over ``duration`` seconds; returns the event log (manifest values in attrs)."""
    sc = make_scenario(DEFAULTS, scenario)
    offered_load(sc, 0.0)  # validates load.kind before anything runs
    p = effective(sc)
    init = p["initial_replicas"]
    if not p["min_replicas"] <= init <= p["max_replicas"]:
        raise ScenarioError(f"initial replicas ({init}) must lie in [min_replicas, max_replicas] "
                            f"= [{p['min_replicas']}, {p['max_replicas']}]")
    if sc["hpa.sync_period"] <= 0 or sc["pods.service_time"] <= 0:
        raise ScenarioError("hpa.sync_period and pods.service_time must be > 0")
    ctx = SimContext(NAME, FLOW, sc)
    pods = _Pods(ctx)
    pods.create(init, 0.0)
    stats = _Stats()
    ctx.env.process(_controller(ctx, pods, sc, p))
    if sc["requests.enabled"]:
        ctx.env.process(_arrivals(ctx, pods, sc, stats, sc["duration"]))
    ctx.env.run(until=sc["duration"])
    df = ctx.frame()
    df.attrs["manifest"] = {k: asdict(v) if isinstance(v, ScalingRules) else v for k, v in p.items()}
    lat = np.asarray(stats.latencies)
    df.attrs["requests"] = {
        "served": int(lat.size),
        "p50": float(np.percentile(lat, 50)) if lat.size else math.nan,
        "p99": float(np.percentile(lat, 99)) if lat.size else math.nan,
        "mean_wait": float(np.mean(stats.waits)) if stats.waits else math.nan,
    }
    return df


def scaling_events(log: pd.DataFrame) -> list[tuple[float, int, int]]:
    """``(time, replicas_from, replicas_to)`` of every scale action, from the event log."""
    import json

    rows = log[(log["component"] == "Kubernetes_API") & log["operation"].isin(["scale_up", "scale_down"])]
    out = []
    for t, detail in zip(rows["time"], rows["detail"], strict=True):
        d = json.loads(detail)
        out.append((float(t), int(d["replicas_from"]), int(d["replicas_to"])))
    return out


def summarize(log: pd.DataFrame) -> dict[str, Any]:
    """Scale actions, peak replicas and request latency figures."""
    events = scaling_events(log)
    req = log.attrs.get("requests", {})
    return {
        "scale_ups": sum(1 for _, a, b in events if b > a),
        "scale_downs": sum(1 for _, a, b in events if b < a),
        "max_replicas": max([b for _, _, b in events], default=0),
        "final_replicas": events[-1][2] if events else None,
        "served": req.get("served"),
        "p50": req.get("p50"),
        "p99": req.get("p99"),
        "mean_wait": req.get("mean_wait"),
    }
