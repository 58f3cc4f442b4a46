"""Blue-green deployment (seed diagram "Blue-Green Deployment Sequence"), Argo Rollouts style.

Steps (component = the participant doing the work, ``detail.from`` = the caller)::

    Kubernetes_API.deploy          CI_CD asks for the green deployment
    Green_Environment.create       replicas start (deployment ready = slowest replica)
    Green_Environment.health_check readiness probes every probe.period s, failure after
                                   probe.failure_threshold consecutive failures (k8s defaults 10 s / 3)
    Green_Environment.smoke_test
    Monitoring.enable
    Load_Balancer.switch           active service now points at green (blue stays up: preview → active)
    Monitoring.report / CI_CD.validate   every analysis.interval s: green error rate and p99 latency
    ok for rollout.scale_down_delay s (Argo's scaleDownDelaySeconds, 30 s):
        Blue_Environment.scale_down, CI_CD.deployment_succeeded
    any failed analysis:
        Load_Balancer.rollback, Green_Environment.scale_down, CI_CD.deployment_rolled_back

Live traffic (Poisson, ``traffic.rate``/s) is served by whichever environment
the load balancer points at (rows ``<Env>.serve``); a bad build is simply
``green.error_rate`` or ``green.latency_*`` set high.  Departure from Argo:
analysis runs only after the switch (no pre-promotion analysis); an analysis
window with fewer than ``analysis.min_requests`` requests counts as passed.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import simpy

from sim.latency import LogNormal
from sim.models._context import SimContext
from sim.scenario import load_defaults, make_scenario

__all__ = ["DEFAULTS", "FLOW", "NAME", "run", "summarize"]

NAME = "blue_green"
FLOW = "blue_green"

DEFAULTS: dict[str, Any] = load_defaults(NAME)

BLUE, GREEN = "Blue_Environment", "Green_Environment"


class _World:
    """Load balancer target and the green request record the analysis reads."""

    def __init__(self, ctx: SimContext, sc: Mapping[str, Any]) -> None:
        self.active = BLUE
        self.stop = False
        self.served: list[tuple[float, bool, float]] = []  # green: (end time, error, latency)
        self.latency = {
            BLUE: LogNormal(sc["blue.latency_median"], sc["blue.latency_p99"]),
            GREEN: LogNormal(sc["green.latency_median"], sc["green.latency_p99"]),
        }
        self.error_rate = {BLUE: sc["blue.error_rate"], GREEN: sc["green.error_rate"]}


def _traffic(ctx: SimContext, w: _World, rate: float) -> Generator[simpy.Event, Any, None]:
    env = ctx.env
    while not w.stop:
        yield env.timeout(ctx.rng.exponential(1.0 / rate))
        env.process(_serve(ctx, w, w.active))


def _serve(ctx: SimContext, w: _World, target: str) -> Generator[simpy.Event, Any, None]:
    env, rid, start = ctx.env, ctx.request_id(), ctx.env.now
    lat = w.latency[target].sample(ctx.rng) * ctx.faults.state(target, start).latency_multiplier
    error = bool(ctx.rng.random() < w.error_rate[target]) or ctx.faults.fails(target, start, ctx.rng)
    yield env.timeout(lat)
    ctx.step(target, "serve", "error" if error else "ok", frm="Load_Balancer", time=start,
             request_id=rid, latency=lat)
    if target == GREEN:
        w.served.append((env.now, error, lat))


def _analyse(w: _World, now: float, window: float, sc: Mapping[str, Any]) -> tuple[bool, dict[str, Any]]:
    recent = [(e, lat) for t, e, lat in w.served if now - window < t <= now]
    n = len(recent)
    if n < sc["analysis.min_requests"]:
        return True, {"requests": n, "inconclusive": True}
    errors = sum(1 for e, _ in recent if e)
    p99 = float(np.percentile([lat for _, lat in recent], 99))
    rate = errors / n
    ok = rate <= sc["analysis.max_error_rate"] and p99 <= sc["analysis.max_p99"]
    return ok, {"requests": n, "error_rate": round(rate, 6), "p99": round(p99, 6)}


def _pipeline(ctx: SimContext, w: _World, sc: Mapping[str, Any]) -> Generator[simpy.Event, Any, str]:
    env = ctx.env
    api = sc["k8s.api_latency"]
    yield env.timeout(api)
    ctx.step("Kubernetes_API", "deploy", frm="CI_CD", time=0.0, latency=api, replicas=sc["green.replicas"])
    start = env.now
    startup = LogNormal(sc["green.startup_median"], sc["green.startup_p99"])
    ready_in = max(startup.sample(ctx.rng) for _ in range(max(1, sc["green.replicas"])))
    yield env.timeout(ready_in)
    ctx.step(GREEN, "create", frm="Kubernetes_API", time=start, latency=ready_in)

    # readiness probes: pass on the first success, fail after the threshold of consecutive failures
    failures = 0
    healthy = False
    while True:
        t0 = env.now
        ok = bool(sc["green.healthy"]) and not ctx.faults.fails(GREEN, t0, ctx.rng)
        lat = 0.01 if ok else sc["probe.timeout"]
        yield env.timeout(lat)
        ctx.step(GREEN, "health_check", "ok" if ok else "error", frm="CI_CD", time=t0, latency=lat)
        if ok:
            healthy = True
            break
        failures += 1
        if failures >= sc["probe.failure_threshold"]:
            break
        yield env.timeout(max(0.0, sc["probe.period"] - lat))
    smoke_ok = False
    if healthy:
        t0 = env.now
        yield env.timeout(sc["smoke.duration"])
        smoke_ok = bool(sc["green.smoke_pass"])
        ctx.step(GREEN, "smoke_test", "ok" if smoke_ok else "error", frm="CI_CD", time=t0,
                 latency=sc["smoke.duration"])
    if not smoke_ok:
        yield from _scale_down(ctx, GREEN, sc)
        ctx.step("CI_CD", "deployment_aborted", "error", reason="health" if not healthy else "smoke")
        return "aborted"

    t0 = env.now
    yield env.timeout(sc["monitoring.enable_latency"])
    ctx.step("Monitoring", "enable", frm="CI_CD", time=t0, latency=sc["monitoring.enable_latency"],
             target=GREEN)
    t0 = env.now
    yield env.timeout(sc["lb.switch_latency"])
    w.active = GREEN
    ctx.step("Load_Balancer", "switch", frm="CI_CD", time=t0, latency=sc["lb.switch_latency"], to=GREEN)

    switched, delay, interval = env.now, sc["rollout.scale_down_delay"], sc["analysis.interval"]
    while True:
        yield env.timeout(min(interval, switched + delay - env.now))
        ok, figures = _analyse(w, env.now, interval, sc)
        ctx.step("Monitoring", "report", to="CI_CD", **figures)
        ctx.step("CI_CD", "validate", "ok" if ok else "error", **figures)
        if not ok:
            t0 = env.now
            yield env.timeout(sc["lb.switch_latency"])
            w.active = BLUE
            ctx.step("Load_Balancer", "rollback", frm="CI_CD", time=t0, latency=sc["lb.switch_latency"],
                     to=BLUE)
            yield from _scale_down(ctx, GREEN, sc)
            ctx.step("CI_CD", "deployment_rolled_back", "error")
            return "rolled_back"
        if env.now >= switched + delay - 1e-9:
            break
    yield from _scale_down(ctx, BLUE, sc)
    ctx.step("CI_CD", "deployment_succeeded")
    return "succeeded"


def _scale_down(ctx: SimContext, target: str, sc: Mapping[str, Any]) -> Generator[simpy.Event, Any, None]:
    t0 = ctx.env.now
    yield ctx.env.timeout(sc["scale_down.latency"])
    ctx.step(target, "scale_down", frm="CI_CD", time=t0, latency=sc["scale_down.latency"])


def run(scenario: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Simulate one blue-green rollout; returns the event log."""
    sc = make_scenario(DEFAULTS, scenario)
    ctx = SimContext(NAME, FLOW, sc)
    world = _World(ctx, sc)
    if sc["traffic.rate"] > 0:
        ctx.env.process(_traffic(ctx, world, sc["traffic.rate"]))
    done = ctx.env.process(_pipeline(ctx, world, sc))
    ctx.env.run(until=done)
    world.stop = True
    ctx.env.run(until=ctx.env.now + 5.0)  # drain in-flight requests
    return ctx.frame()


def summarize(log: pd.DataFrame) -> dict[str, Any]:
    """Outcome of the rollout and the error rate users saw per environment."""
    final = log[log["component"] == "CI_CD"]
    final = final[final["operation"].str.startswith("deployment_")]
    serve = log[log["operation"] == "serve"]
    out: dict[str, Any] = {
        "result": final["operation"].iloc[-1].removeprefix("deployment_") if len(final) else "unfinished",
        "end_time": float(log["time"].max()) if len(log) else 0.0,
        "requests": len(serve),
    }
    for env_name, short in ((BLUE, "blue"), (GREEN, "green")):
        s = serve[serve["component"] == env_name]
        out[f"{short}_requests"] = len(s)
        out[f"{short}_error_rate"] = float((s["outcome"] == "error").mean()) if len(s) else 0.0
    return out
