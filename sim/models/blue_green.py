"""Blue-green deployment (seed diagram "Blue-Green Deployment Sequence") as Argo Rollouts runs it.

The rollout is the one in ``deploy/k8s/base`` (read by :mod:`sim.manifests`): replicas and
``progressDeadlineSeconds`` of the Rollout, the Deployment's readiness probe, the ``blueGreen``
block (``autoPromotionEnabled``, ``autoPromotionSeconds``, ``scaleDownDelaySeconds``, pre/post
promotion analysis) and every AnalysisTemplate metric (interval, count, failureLimit,
successCondition threshold, query window).  Steps (component = who acts, ``detail.from`` = caller)::

    Kubernetes_API.deploy          CI_CD applies the new revision (green)
    Green_Environment.create       green's containers run (slowest replica)
    Green_Environment.health_check readiness probe: first after initialDelaySeconds, every
                                   periodSeconds, ready after successThreshold successes; not ready
                                   by progressDeadlineSeconds -> CI_CD.deployment_aborted
    Green_Environment.smoke_test
    Monitoring.enable              preview traffic (``preview.rate``/s) reaches green
    Monitoring.report / CI_CD.validate   prePromotionAnalysis on green: failed -> green scaled down,
                                   CI_CD.deployment_aborted (users never saw green)
    CI_CD.promote                  after autoPromotionSeconds, or ``promotion.delay`` s of the operator
                                   when autoPromotionEnabled is false
    Load_Balancer.switch           the active service selects green
    Monitoring.report / CI_CD.validate   postPromotionAnalysis: failed -> Load_Balancer.rollback,
                                   Green_Environment.scale_down, CI_CD.deployment_rolled_back
    passed: after scaleDownDelaySeconds, Blue_Environment.scale_down, CI_CD.deployment_succeeded

An analysis takes each metric's first measurement at once and one per interval until count; it
fails as soon as a metric has more than failureLimit failed measurements.  A measurement reads
green's requests of the query's window: error rate = 5xx / all, latency quantile interpolated in
the buckets of ``/metrics`` as Prometheus' ``histogram_quantile`` does.  Departures: a window with
fewer than ``analysis.min_requests`` requests is inconclusive and counts as passed (Argo would
evaluate the NaN); liveness restarts are not modelled.  A bad build is ``green.error_rate`` or
``green.latency_*`` set high; ``green.live_error_rate`` is a bug only live traffic hits.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Generator, Mapping
from typing import Any

import pandas as pd
import simpy

from sim.latency import LogNormal
from sim.manifests import AnalysisMetric, Bundle, ManifestError, load
from sim.models._context import SimContext
from sim.scenario import ScenarioError, load_defaults, make_scenario
from supreme.monitoring.metrics import LATENCY_BUCKETS

__all__ = ["DEFAULTS", "FLOW", "NAME", "histogram_quantile", "run", "summarize"]

NAME = "blue_green"
FLOW = "blue_green"

DEFAULTS: dict[str, Any] = load_defaults(NAME)

BLUE, GREEN = "Blue_Environment", "Green_Environment"


def histogram_quantile(
    q: float, latencies: list[float], buckets: tuple[float, ...] = LATENCY_BUCKETS
) -> float:
    """Prometheus' ``histogram_quantile`` of ``latencies`` counted into ``buckets`` (NaN if empty)."""
    if not latencies:
        return math.nan
    counts = [0] * (len(buckets) + 1)
    for x in latencies:
        counts[bisect.bisect_left(buckets, x)] += 1
    rank, seen = q * len(latencies), 0
    for i, c in enumerate(counts):
        if seen + c >= rank and c:
            if i == len(buckets):
                return buckets[-1]  # the +Inf bucket: Prometheus answers the largest finite bound
            lo = buckets[i - 1] if i else 0.0
            return lo + (buckets[i] - lo) * (rank - seen) / c
        seen += c
    return buckets[-1]


class _World:
    """Load balancer target, green's request record and the error rates in force."""

    def __init__(self, sc: Mapping[str, Any]) -> None:
        self.active = BLUE
        self.stop = False
        self.preview = False
        self.served: list[tuple[float, bool, float]] = []  # green: (end time, error, latency)
        self.latency = {
            BLUE: LogNormal(sc["blue.latency_median"], sc["blue.latency_p99"]),
            GREEN: LogNormal(sc["green.latency_median"], sc["green.latency_p99"]),
        }
        live = sc["green.live_error_rate"]
        self.error_rate = {BLUE: sc["blue.error_rate"], GREEN: sc["green.error_rate"]}
        self.live_error_rate = {
            BLUE: sc["blue.error_rate"],
            GREEN: sc["green.error_rate"] if live is None else float(live),
        }


def _traffic(ctx: SimContext, w: _World, rate: float, preview: bool) -> Generator[simpy.Event, Any, None]:
    env = ctx.env
    while not w.stop:
        yield env.timeout(ctx.rng.exponential(1.0 / rate))
        if preview and not w.preview:
            continue
        env.process(_serve(ctx, w, GREEN if preview else w.active, preview))


def _serve(ctx: SimContext, w: _World, target: str, preview: bool) -> Generator[simpy.Event, Any, None]:
    env, rid, start = ctx.env, ctx.request_id(), ctx.env.now
    lat = w.latency[target].sample(ctx.rng) * ctx.faults.state(target, start).latency_multiplier
    rate = w.error_rate[target] if preview else w.live_error_rate[target]
    error = bool(ctx.rng.random() < rate) or ctx.faults.fails(target, start, ctx.rng)
    yield env.timeout(lat)
    ctx.step(
        target,
        "serve",
        "error" if error else "ok",
        frm="Load_Balancer",
        time=start,
        request_id=rid,
        latency=lat,
        preview=preview,
    )
    if target == GREEN:
        w.served.append((env.now, error, lat))


def _measure(
    w: _World, m: AnalysisMetric, now: float, min_requests: int
) -> tuple[bool | None, dict[str, Any]]:
    """One measurement: ``(passed, figures)``; ``passed`` None when inconclusive."""
    recent = [(e, lat) for t, e, lat in w.served if now - m.window < t <= now]
    if len(recent) < min_requests:
        return None, {"metric": m.name, "requests": len(recent), "inconclusive": True}
    if m.kind == "error_rate":
        value = sum(1 for e, _ in recent if e) / len(recent)
    else:
        value = histogram_quantile(m.quantile, [lat for _, lat in recent])
    return m.passes(value), {
        "metric": m.name,
        "requests": len(recent),
        "value": round(value, 6),
        "threshold": m.threshold,
    }


def _analysis(
    ctx: SimContext, w: _World, metrics: tuple[AnalysisMetric, ...], phase: str, sc: Mapping[str, Any]
) -> Generator[simpy.Event, Any, bool]:
    """Run one AnalysisRun; True when it succeeds."""
    env, start = ctx.env, ctx.env.now
    plan = sorted((start + k * m.interval, i, m) for i, m in enumerate(metrics) for k in range(m.count))
    failures = [0] * len(metrics)
    for at, i, m in plan:
        if at > env.now:
            yield env.timeout(at - env.now)
        passed, figures = _measure(w, m, env.now, sc["analysis.min_requests"])
        ctx.step("Monitoring", "report", to="CI_CD", phase=phase, **figures)
        ctx.step("CI_CD", "validate", "error" if passed is False else "ok", phase=phase, **figures)
        failures[i] += passed is False
        if failures[i] > m.failure_limit:
            return False
    return True


def _readiness(
    ctx: SimContext, b: Bundle, sc: Mapping[str, Any], deadline: float
) -> Generator[simpy.Event, Any, bool]:
    """Readiness probes until green is ready (True) or the progress deadline passes (False)."""
    env, probe = ctx.env, b.readiness
    if probe.initial_delay:
        yield env.timeout(probe.initial_delay)
    streak = 0
    while env.now < deadline - 1e-9:
        t0 = env.now
        ok = bool(sc["green.healthy"]) and not ctx.faults.fails(GREEN, t0, ctx.rng)
        lat = 0.01 if ok else probe.timeout
        yield env.timeout(lat)
        ctx.step(GREEN, "health_check", "ok" if ok else "error", frm="Kubernetes_API", time=t0, latency=lat)
        streak = streak + 1 if ok else 0
        if streak >= probe.success_threshold:
            return True
        yield env.timeout(max(0.0, probe.period - lat))
    return False


def _timed(
    ctx: SimContext, component: str, operation: str, latency: float, outcome: str = "ok", **detail: Any
) -> Generator[simpy.Event, Any, None]:
    t0 = ctx.env.now
    if latency > 0:
        yield ctx.env.timeout(latency)
    ctx.step(component, operation, outcome, frm="CI_CD", time=t0, latency=latency, **detail)


def _bring_up(ctx: SimContext, b: Bundle, sc: Mapping[str, Any]) -> Generator[simpy.Event, Any, str | None]:
    """Deploy green, wait for readiness, smoke-test it; the abort reason, or None when green is up."""
    env = ctx.env
    api = sc["k8s.api_latency"]
    yield env.timeout(api)
    ctx.step("Kubernetes_API", "deploy", frm="CI_CD", time=0.0, latency=api, replicas=b.rollout.replicas)
    deadline = env.now + b.rollout.progress_deadline
    start = env.now
    startup = LogNormal(sc["green.startup_median"], sc["green.startup_p99"])
    running_in = max(startup.sample(ctx.rng) for _ in range(b.rollout.replicas))
    yield env.timeout(running_in)
    ctx.step(GREEN, "create", frm="Kubernetes_API", time=start, latency=running_in)
    if not (yield from _readiness(ctx, b, sc, deadline)):
        return "progress_deadline"
    smoke_ok = bool(sc["green.smoke_pass"])
    yield from _timed(ctx, GREEN, "smoke_test", sc["smoke.duration"], "ok" if smoke_ok else "error")
    return None if smoke_ok else "smoke"


def _pipeline(
    ctx: SimContext, w: _World, b: Bundle, sc: Mapping[str, Any]
) -> Generator[simpy.Event, Any, str]:
    env, r = ctx.env, b.rollout
    reason = yield from _bring_up(ctx, b, sc)
    if reason is None:
        yield from _timed(ctx, "Monitoring", "enable", sc["monitoring.enable_latency"], target=GREEN)
        w.preview = True
        if not (yield from _analysis(ctx, w, r.pre_analysis, "pre_promotion", sc)):
            reason = "analysis"
    if reason is not None:
        w.preview = False
        yield from _timed(ctx, GREEN, "scale_down", sc["scale_down.latency"])
        ctx.step("CI_CD", "deployment_aborted", "error", reason=reason)
        return "aborted"
    wait = r.auto_promotion_seconds if r.auto_promotion else sc["promotion.delay"]
    yield from _timed(ctx, "CI_CD", "promote", wait, auto=r.auto_promotion)
    yield from _timed(ctx, "Load_Balancer", "switch", sc["lb.switch_latency"], to=GREEN)
    w.active, w.preview = GREEN, False
    if not (yield from _analysis(ctx, w, r.post_analysis, "post_promotion", sc)):
        yield from _timed(ctx, "Load_Balancer", "rollback", sc["lb.switch_latency"], to=BLUE)
        w.active = BLUE
        yield from _timed(ctx, GREEN, "scale_down", sc["scale_down.latency"])
        ctx.step("CI_CD", "deployment_rolled_back", "error")
        return "rolled_back"
    yield env.timeout(r.scale_down_delay)
    yield from _timed(ctx, BLUE, "scale_down", sc["scale_down.latency"])
    ctx.step("CI_CD", "deployment_succeeded")
    return "succeeded"


def run(scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Simulate one blue-green rollout of the manifests' Rollout; returns the event log."""
    sc = make_scenario(DEFAULTS, scenario)
    try:
        bundle = load(sc["manifests.dir"])
    except ManifestError as exc:
        raise ScenarioError(str(exc)) from exc
    ctx = SimContext(NAME, FLOW, sc)
    world = _World(sc)
    if sc["traffic.rate"] > 0:
        ctx.env.process(_traffic(ctx, world, sc["traffic.rate"], preview=False))
    if sc["preview.rate"] > 0:
        ctx.env.process(_traffic(ctx, world, sc["preview.rate"], preview=True))
    done = ctx.env.process(_pipeline(ctx, world, bundle, sc))
    ctx.env.run(until=done)
    world.stop = True
    ctx.env.run(until=ctx.env.now + 5.0)  # drain in-flight requests
    df = ctx.frame()
    df.attrs["manifest"] = {
        "source": str(bundle.source),
        "readiness_period": bundle.readiness.period,
        "progress_deadline": bundle.rollout.progress_deadline,
        "scale_down_delay": bundle.rollout.scale_down_delay,
        "analysis": [m.name for m in bundle.rollout.pre_analysis],
    }
    return df


def summarize(log: pd.DataFrame) -> dict[str, Any]:
    """Outcome of the rollout and the error rate users saw per environment (preview traffic excluded)."""
    final = log[log["component"] == "CI_CD"]
    final = final[final["operation"].str.startswith("deployment_")]
    serve = log[log["operation"] == "serve"]
    live = serve[~serve["detail"].fillna("").str.contains('"preview": true')]
    out: dict[str, Any] = {
        "result": final["operation"].iloc[-1].removeprefix("deployment_") if len(final) else "unfinished",
        "end_time": float(log["time"].max()) if len(log) else 0.0,
        "requests": len(live),
    }
    for env_name, short in ((BLUE, "blue"), (GREEN, "green")):
        s = live[live["component"] == env_name]
        out[f"{short}_requests"] = len(s)
        out[f"{short}_error_rate"] = float((s["outcome"] == "error").mean()) if len(s) else 0.0
    return out
