"""Notebook 08: a blue-green rollout (one good build, one bad build rolled back) and the HPA under a ramp.

Both come from the SimPy models in :mod:`sim.models` (``blue_green``, ``autoscaling``) through
:func:`sim.runner.run_model`; this module only turns their event logs into tables and figures.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from sim.models.autoscaling import offered_load
from sim.runner import get_model, run_model

__all__ = [
    "autoscale",
    "conclusion",
    "hpa_timeline",
    "plot_autoscaling",
    "plot_rollouts",
    "rollout_steps",
    "rollouts",
    "traffic_by_env",
]

#: Overrides that make the green build bad (a fifth of its requests fail).
BAD_BUILD: dict[str, Any] = {"green.error_rate": 0.2}
ENVS = ("Blue_Environment", "Green_Environment")


def rollouts(seed: int = 0, bad: dict[str, Any] | None = None) -> dict[str, pd.DataFrame]:
    """Event logs of a rollout of a good build and of a bad one (``bad`` overrides, default BAD_BUILD)."""
    return {
        "good build": run_model("blue_green", {"seed": seed}),
        "bad build": run_model("blue_green", {"seed": seed, **(bad or BAD_BUILD)}),
    }


def rollout_steps(log: pd.DataFrame) -> pd.DataFrame:
    """The control steps of a rollout (requests left out), time rounded to 0.1 s."""
    steps = log[log["operation"] != "serve"][["time", "component", "operation", "outcome"]]
    return steps.assign(time=steps["time"].round(1)).reset_index(drop=True)


def traffic_by_env(log: pd.DataFrame, bin_s: float = 2.0) -> pd.DataFrame:
    """Requests and errors per second served by each environment, in ``bin_s`` bins."""
    serve = log[log["operation"] == "serve"]
    edges = np.arange(0.0, float(log["time"].max()) + bin_s, bin_s)
    out = pd.DataFrame({"t": edges[:-1]})
    for env in ENVS:
        s = serve[serve["component"] == env]
        out[f"{env}_rps"] = np.histogram(s["time"], edges)[0] / bin_s
        out[f"{env}_err"] = np.histogram(s.loc[s["outcome"] == "error", "time"], edges)[0] / bin_s
    return out


def _marks(log: pd.DataFrame) -> list[tuple[float, str]]:
    names = {
        ("Load_Balancer", "switch"): "switch",
        ("Load_Balancer", "rollback"): "rollback",
        ("Blue_Environment", "scale_down"): "blue down",
        ("Green_Environment", "scale_down"): "green down",
    }
    rows = log[[(c, o) in names for c, o in zip(log["component"], log["operation"], strict=True)]]
    return [
        (float(t), names[(c, o)])
        for t, c, o in zip(rows["time"], rows["component"], rows["operation"], strict=True)
    ]


def plot_rollouts(logs: dict[str, pd.DataFrame]) -> Any:
    """Per rollout: which environment served the traffic, its errors, and the switch/rollback moments."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(logs), figsize=(12, 3.6), sharey=True, squeeze=False)
    colors = {"Blue_Environment": "tab:blue", "Green_Environment": "tab:green"}
    for ax, (name, log) in zip(axes.flat, logs.items(), strict=True):
        tr = traffic_by_env(log)
        for env in ENVS:
            ax.step(
                tr["t"], tr[f"{env}_rps"], where="post", color=colors[env], label=f"{env.split('_')[0]} req/s"
            )
            ax.step(
                tr["t"],
                tr[f"{env}_err"],
                where="post",
                color=colors[env],
                ls=":",
                label=f"{env.split('_')[0]} errors/s",
            )
        for t, label in _marks(log):
            ax.axvline(t, color="gray", lw=0.8)
            ax.text(t, ax.get_ylim()[1] * 0.95, f" {label}", rotation=90, va="top", fontsize=7)
        ax.set_title(f"{name}: {get_model('blue_green').summarize(log)['result']}")
        ax.set_xlabel("time (s)")
    axes.flat[0].set_ylabel("requests per second")
    axes.flat[0].legend(loc="center left")
    fig.tight_layout()
    return fig


def autoscale(seed: int = 0, **overrides: Any) -> pd.DataFrame:
    """The HPA under a load ramp 5 -> 40 req/s (60-180 s) that drops back at 400 s; the event log."""
    scenario = {
        "seed": seed,
        "load.kind": "ramp",
        "load.base": 5.0,
        "load.peak": 40.0,
        "load.at": 60.0,
        "load.ramp_for": 120.0,
        "load.drop_at": 400.0,
        "duration": 900.0,
    }
    scenario.update({k.replace("__", "."): v for k, v in overrides.items()})
    return run_model("autoscaling", scenario)


def hpa_timeline(log: pd.DataFrame) -> pd.DataFrame:
    """One row per HPA sync: offered load, ready pods, utilisation, the decision and desired replicas."""
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
            "utilization": [round(d["utilization"], 4) for d in cd],
            "decision": ev["outcome"].to_numpy(),
            "desired": [d["desired"] for d in ed],
        }
    )


def plot_autoscaling(log: pd.DataFrame) -> Any:
    """Offered load against the capacity of ready pods, and replicas desired vs ready."""
    import matplotlib.pyplot as plt

    sc = log.attrs["scenario"]
    tl = hpa_timeline(log)
    per_pod = sc["hpa.target_utilization"] / sc["pods.service_time"]  # req/s one pod takes at target
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True)
    t = np.linspace(0, sc["duration"], 901)
    ax1.plot(t, [offered_load(sc, x) for x in t], color="black", label="offered load (req/s)")
    ax1.step(
        tl["t"],
        tl["ready"] * per_pod,
        where="post",
        color="tab:orange",
        label="ready pods x load per pod at target",
    )
    ax1.set_ylabel("req/s")
    ax1.legend()
    ax2.step(tl["t"], tl["desired"], where="post", label="desired replicas")
    ax2.step(tl["t"], tl["ready"], where="post", label="ready pods")
    ax2.set_ylabel("pods")
    ax2.set_xlabel("time (s)")
    ax2.legend()
    ax1.set_title("HPA under a load ramp (sync 15 s, tolerance 0.1, scale-down window 300 s)")
    fig.tight_layout()
    return fig


def conclusion(logs: dict[str, pd.DataFrame], hpa_log: pd.DataFrame) -> str:
    """The notebook's conclusion, worded from the logs."""
    bg = get_model("blue_green")
    lines = []
    for name, log in logs.items():
        s = bg.summarize(log)
        marks = dict((label, t) for t, label in _marks(log))
        switch = marks.get("switch")
        extra = (
            f"rollback at {marks['rollback']:.1f} s"
            if "rollback" in marks
            else f"blue scaled down at {marks.get('blue down', float('nan')):.1f} s"
        )
        lines.append(
            f"- {name}: {s['result']} after {s['end_time']:.1f} s; traffic switched to green at "
            f"{switch:.1f} s, {extra}; users saw {s['green_requests']} green requests with error rate "
            f"{s['green_error_rate']:.3f} (blue {s['blue_error_rate']:.3f})."
        )
    h = get_model("autoscaling").summarize(hpa_log)
    tl = hpa_timeline(hpa_log)
    first_up = tl.loc[tl["decision"] == "scale_up", "t"]
    lines.append(
        f"- HPA: {h['scale_ups']} scale-ups and {h['scale_downs']} scale-downs, peak {h['max_replicas']} "
        f"replicas, {h['final_replicas']} at the end; first scale-up at {float(first_up.iloc[0]):.0f} s; "
        f"request P50 {h['p50'] * 1000:.0f} ms, P99 {h['p99'] * 1000:.0f} ms (the tail is the queue while "
        "new pods start)."
    )
    return "\n".join(lines)
