"""Notebook 08: blue-green rollouts of the Argo Rollout in deploy/k8s/base, and its HPA under a load ramp.

Both come from the SimPy models in :mod:`sim.models` (``blue_green``, ``autoscaling``) through
:func:`sim.runner.run_model`; the models take their parameters from the manifests
(:mod:`sim.manifests`).  This module turns the event logs into tables and figures, lists what was
read from which file, and runs the HPA on an edited copy of ``hpa.yaml``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sim.manifests import Bundle, default_dir, load
from sim.models.autoscaling import offered_load
from sim.runner import get_model, run_model

__all__ = [
    "autoscale",
    "autoscale_edited",
    "conclusion",
    "hpa_timeline",
    "manifest_table",
    "plot_autoscaling",
    "plot_rollouts",
    "rollout_steps",
    "rollouts",
    "traffic_by_env",
]

#: The three builds: fine, failing on every request (caught before promotion), failing only on live traffic.
BUILDS: dict[str, dict[str, Any]] = {
    "good build": {},
    "bad build": {"green.error_rate": 0.2},
    "bug on live traffic": {"green.live_error_rate": 0.2},
}
ENVS = ("Blue_Environment", "Green_Environment")
#: The ramp of the HPA run: 5 -> 40 req/s over 60-180 s, back to 5 at 400 s.
RAMP: dict[str, Any] = {
    "load.kind": "ramp",
    "load.base": 5.0,
    "load.peak": 40.0,
    "load.at": 60.0,
    "load.ramp_for": 120.0,
    "load.drop_at": 400.0,
    "duration": 900.0,
}


def manifest_table(bundle: Bundle | None = None) -> pd.DataFrame:
    """What the two models read from the manifests: file, field, value."""
    b = bundle or load()
    r, h = b.rollout, b.hpa
    rows = [
        ("deployment.yaml", "resources.requests.cpu (cores)", b.cpu_request),
        (
            "deployment.yaml",
            "readinessProbe initialDelay/period/timeout (s)",
            f"{b.readiness.initial_delay:g}/{b.readiness.period:g}/{b.readiness.timeout:g}",
        ),
        (
            "deployment.yaml",
            "readinessProbe success/failure threshold",
            f"{b.readiness.success_threshold}/{b.readiness.failure_threshold}",
        ),
        ("rollout.yaml", "replicas", r.replicas),
        ("rollout.yaml", "progressDeadlineSeconds", r.progress_deadline),
        ("rollout.yaml", "autoPromotionEnabled", r.auto_promotion),
        ("rollout.yaml", "scaleDownDelaySeconds", r.scale_down_delay),
    ]
    for phase, metrics in (("pre", r.pre_analysis), ("post", r.post_analysis)):
        for m in metrics:
            rows.append(
                (
                    "analysis-template.yaml",
                    f"{phase}-promotion {m.name}",
                    f"result {m.op} {m.threshold:g} over {m.window:g} s, every {m.interval:g} s x "
                    f"{m.count}, failureLimit {m.failure_limit}",
                )
            )
    rows += [
        ("hpa.yaml", "min/maxReplicas", f"{h.min_replicas}/{h.max_replicas}"),
        ("hpa.yaml", "cpu averageUtilization", h.cpu_utilization),
        ("hpa.yaml", f"{h.pods_metric} averageValue", h.pods_average),
    ]
    for name, rules in (("scaleUp", h.scale_up), ("scaleDown", h.scale_down)):
        policies = ", ".join(f"{p.type} {p.value} per {p.period_seconds:g} s" for p in rules.policies)
        rows.append(
            (
                "hpa.yaml",
                f"behavior.{name}",
                f"window {rules.stabilization_window:g} s, {rules.select_policy} of [{policies}]",
            )
        )
    return pd.DataFrame(rows, columns=["file", "field", "value"]).astype({"value": str})


def rollouts(seed: int = 0, builds: dict[str, dict[str, Any]] | None = None) -> dict[str, pd.DataFrame]:
    """Event logs of one rollout per build (default :data:`BUILDS`)."""
    return {name: run_model("blue_green", {"seed": seed, **ov}) for name, ov in (builds or BUILDS).items()}


def rollout_steps(log: pd.DataFrame) -> pd.DataFrame:
    """The control steps of a rollout (requests left out), time rounded to 0.1 s, analysis figures shown."""
    steps = log[log["operation"] != "serve"]
    detail = [json.loads(d) if isinstance(d, str) else {} for d in steps["detail"]]
    what = [
        f"{d['phase']} {d['metric']}: " + ("inconclusive" if d.get("inconclusive") else f"{d['value']:.4f}")
        if "metric" in d
        else d.get("reason", "")
        for d in detail
    ]
    out = steps[["time", "component", "operation", "outcome"]].assign(
        time=steps["time"].round(1), detail=what
    )
    return out.reset_index(drop=True)


def traffic_by_env(log: pd.DataFrame, bin_s: float = 2.0) -> pd.DataFrame:
    """Live requests and errors per second served by each environment, in ``bin_s`` bins."""
    serve = log[(log["operation"] == "serve") & ~log["detail"].fillna("").str.contains('"preview": true')]
    edges = np.arange(0.0, float(log["time"].max()) + bin_s, bin_s)
    out = pd.DataFrame({"t": edges[:-1]})
    for env in ENVS:
        s = serve[serve["component"] == env]
        out[f"{env}_rps"] = np.histogram(s["time"], edges)[0] / bin_s
        out[f"{env}_err"] = np.histogram(s.loc[s["outcome"] == "error", "time"], edges)[0] / bin_s
    return out


_MARKS = {
    ("CI_CD", "promote"): "promote",
    ("Load_Balancer", "switch"): "switch",
    ("Load_Balancer", "rollback"): "rollback",
    ("Blue_Environment", "scale_down"): "blue down",
    ("Green_Environment", "scale_down"): "green down",
}


def _marks(log: pd.DataFrame) -> list[tuple[float, str]]:
    keys = list(zip(log["component"], log["operation"], strict=True))
    rows = log[[k in _MARKS for k in keys]]
    return [
        (float(t), _MARKS[(c, o)])
        for t, c, o in zip(rows["time"], rows["component"], rows["operation"], strict=True)
    ]


def plot_rollouts(logs: dict[str, pd.DataFrame]) -> Any:
    """Per rollout: the environment serving live traffic, its errors, the promote/switch/rollback times."""
    import matplotlib.pyplot as plt

    from lab.style import label_marks

    fig, axes = plt.subplots(1, len(logs), figsize=(13, 4.4), sharey=True, squeeze=False,
                             layout="constrained")
    colors = {"Blue_Environment": "tab:blue", "Green_Environment": "tab:green"}
    rows = 0
    for ax, log in zip(axes.flat, logs.values(), strict=True):
        tr = traffic_by_env(log)
        for env in ENVS:
            short = env.split("_")[0]
            ax.step(tr["t"], tr[f"{env}_rps"], where="post", color=colors[env], label=f"{short} req/s")
            ax.step(
                tr["t"], tr[f"{env}_err"], where="post", color=colors[env], ls=":", label=f"{short} errors/s"
            )
        ax.set_xlim(float(tr["t"].min()), float(tr["t"].max()))
        # the labels sit above the plot, staggered in rows so that close events never collide
        rows = max(rows, label_marks(ax, _marks(log)))
        ax.set_xlabel("time (s)")
    for ax, (name, log) in zip(axes.flat, logs.items(), strict=True):  # titles clear of every label row
        ax.set_title(f"{name}: {get_model('blue_green').summarize(log)['result']}", fontsize=10,
                     pad=8 + 12 * rows)
    axes.flat[0].set_ylabel("live requests per second")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels))
    return fig


def autoscale(seed: int = 0, **overrides: Any) -> pd.DataFrame:
    """The HPA of the manifests under :data:`RAMP`; ``a__b=v`` overrides scenario key ``a.b``."""
    scenario = {"seed": seed, **RAMP}
    scenario.update({k.replace("__", "."): v for k, v in overrides.items()})
    return run_model("autoscaling", scenario)


def autoscale_edited(change: Callable[[dict[str, Any]], None], seed: int = 0) -> pd.DataFrame:
    """:func:`autoscale` on a temporary copy of deploy/k8s/base whose hpa.yaml ``change`` edited in place."""
    with tempfile.TemporaryDirectory(prefix="supreme-k8s-") as tmp:
        folder = Path(tmp) / "base"
        shutil.copytree(default_dir(), folder)
        path = folder / "hpa.yaml"
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        change(doc)
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        log = autoscale(seed, manifests__dir=str(folder))
    log.attrs["manifest"]["source"] = "edited copy of deploy/k8s/base"
    return log


def hpa_timeline(log: pd.DataFrame) -> pd.DataFrame:
    """One row per HPA sync: offered load, ready pods, both metrics, the decision and desired replicas."""
    sc = log.attrs["scenario"]
    col = log[log["component"] == "Metrics_Collector"]
    ev = log[log["component"] == "HPA_Controller"]
    cd = [json.loads(d) for d in col["detail"]]
    ed = [json.loads(d) for d in ev["detail"]]
    return pd.DataFrame(
        {
            "t": col["time"].to_numpy(),
            "offered": [offered_load(sc, float(t)) for t in col["time"]],
            "ready": [d["ready"] for d in cd],
            "cpu": [round(d["utilization"], 4) for d in cd],
            "rps_per_pod": [round(d["rps_per_pod"], 3) for d in cd],
            "decision": ev["outcome"].to_numpy(),
            "recommended": [d["recommendation"] for d in ed],
            "desired": [d["desired"] for d in ed],
        }
    )


def _per_pod_at_target(log: pd.DataFrame) -> float:
    """Requests/s one pod takes before either HPA target is reached."""
    sc, m = log.attrs["scenario"], log.attrs["manifest"]
    limits = []
    if m["target_utilization"] is not None:
        limits.append(m["target_utilization"] * m["cpu_request"] / sc["pods.service_time"])
    if m["target_rps"] is not None:
        limits.append(m["target_rps"])
    return float(min(limits))


def plot_autoscaling(logs: dict[str, pd.DataFrame]) -> Any:
    """Offered load against ready pods x load per pod at target, and desired vs ready replicas, per run."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(logs), figsize=(6 * len(logs) + 2, 5.5), sharex=True, squeeze=False,
                             layout="constrained")
    for j, (name, log) in enumerate(logs.items()):
        sc, tl = log.attrs["scenario"], hpa_timeline(log)
        ax1, ax2 = axes[0, j], axes[1, j]
        t = np.linspace(0, sc["duration"], 901)
        ax1.plot(t, [offered_load(sc, x) for x in t], color="black", label="offered load (req/s)")
        ax1.step(
            tl["t"],
            tl["ready"] * _per_pod_at_target(log),
            where="post",
            color="tab:orange",
            label="ready pods x req/s per pod at target",
        )
        ax1.set_title(name, fontsize=10)
        ax1.set_ylabel("req/s")
        ax2.step(tl["t"], tl["desired"], where="post", label="desired replicas")
        ax2.step(tl["t"], tl["ready"], where="post", label="ready pods")
        ax2.set_xlabel("time (s)")
        ax2.set_ylabel("pods")
    # one legend per row, right of the last panel: off the data
    for row in axes:
        row[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7)
    return fig


def conclusion(logs: dict[str, pd.DataFrame], hpa_logs: dict[str, pd.DataFrame]) -> str:
    """The notebook's conclusion, worded from the logs."""
    bg = get_model("blue_green")
    lines = []
    for name, log in logs.items():
        s = bg.summarize(log)
        marks = {label: t for t, label in _marks(log)}
        if "rollback" in marks:
            how = f"switched to green at {marks['switch']:.1f} s, rolled back at {marks['rollback']:.1f} s"
        elif "switch" in marks:
            how = f"switched to green at {marks['switch']:.1f} s, blue down at {marks['blue down']:.1f} s"
        else:
            how = "stopped by the pre-promotion analysis, traffic never left blue"
        lines.append(
            f"- {name}: {s['result']} after {s['end_time']:.1f} s; {how}; users sent {s['green_requests']} "
            f"requests to green (error rate {s['green_error_rate']:.3f}; blue {s['blue_error_rate']:.3f})."
        )
    am = get_model("autoscaling")
    for name, log in hpa_logs.items():
        h = am.summarize(log)
        tl = hpa_timeline(log)
        first_up = tl.loc[tl["decision"] == "scale_up", "t"]
        lines.append(
            f"- HPA, {name}: {h['scale_ups']} scale-ups and {h['scale_downs']} scale-downs, peak "
            f"{h['max_replicas']} replicas, {h['final_replicas']} at the end; first scale-up at "
            f"{float(first_up.iloc[0]):.0f} s; request P50 {h['p50'] * 1000:.0f} ms, "
            f"P99 {h['p99'] * 1000:.0f} ms."
        )
    return "\n".join(lines)
