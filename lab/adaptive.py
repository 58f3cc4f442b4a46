"""Notebook 04: the adaptive layer's learning cycle, its adaptations and prefetching, vs static policies.

Everything runs the project's own objects through :func:`supreme.adaptive.simulate_adaptive` (the
adaptive layer over a key-only cache) and :func:`supreme.cache.traces.simulate.simulate` (static
policies).  The per-cycle miss ratio of the adaptive cache is exact: the simulation is causal, so the
misses of the first ``k`` requests do not depend on what follows, and the misses of one cycle are the
difference between two prefix runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from lab.eviction import keys_to_trace
from supreme.adaptive import simulate_adaptive
from supreme.adaptive import workloads as wl
from supreme.adaptive.workloads import Workload
from supreme.cache.traces.simulate import simulate
from supreme.events import EventLog

__all__ = [
    "STATIC",
    "WORKLOADS",
    "adaptations",
    "capacity_for",
    "compare",
    "conclusion",
    "make_workloads",
    "plot_compare",
    "plot_timeline",
    "static_table",
    "timeline",
]

#: Static policies the adaptive cache is measured against.
STATIC = ("lru", "fifo", "lfu", "clock", "arc", "sieve", "s3fifo", "wtinylfu")
WORKLOADS: dict[str, Callable[..., Workload]] = {
    "dashboard_replay": wl.dashboard_replay,
    "candle_walk": wl.candle_walk,
    "volatility_bursts": wl.volatility_bursts,
    "zipf_shifting": wl.zipf_shifting,
    "scan_with_hot_set": wl.scan_with_hot_set,
}


def make_workloads(n: int = 20_000, seed: int = 0, names: list[str] | None = None) -> dict[str, Workload]:
    """The seeded workloads by name."""
    return {k: WORKLOADS[k](n, seed=seed) for k in (names or list(WORKLOADS))}


def capacity_for(w: Workload, frac: float) -> int:
    """Cache capacity as a fraction of the workload's distinct keys (at least 4)."""
    return max(4, round(frac * len(set(w.keys))))


def static_table(w: Workload, capacity: int) -> pd.DataFrame:
    """Miss ratio of every static policy at ``capacity`` (no warm-up, like the adaptive runs)."""
    trace = keys_to_trace(w.keys)
    rows = [{"policy": p, "miss_ratio": simulate(trace, p, capacity).miss_ratio} for p in STATIC]
    return pd.DataFrame.from_records(rows)


def compare(workloads: dict[str, Workload], frac: float = 0.1, threshold: float = 0.4) -> pd.DataFrame:
    """Per workload: best static policy, LRU, and the adaptive cache without / with prefetching."""
    rows = []
    for name, w in workloads.items():
        cap = capacity_for(w, frac)
        st = static_table(w, cap)
        best = st.iloc[int(np.argmin(st["miss_ratio"].to_numpy()))].to_dict()
        adapt = simulate_adaptive(w, cap, prefetch=False, threshold=threshold)
        pref = simulate_adaptive(w, cap, prefetch=True, threshold=threshold)
        rows.append(
            {
                "workload": name,
                "capacity": cap,
                "best_static": best["policy"],
                "best_static_mr": best["miss_ratio"],
                "lru_mr": float(st.loc[st["policy"] == "lru", "miss_ratio"].iloc[0]),
                "adaptive_mr": adapt["miss_ratio"],
                "adaptive_prefetch_mr": pref["miss_ratio"],
                "fetch_ratio": pref["fetch_ratio"],
                "final_policy": pref["final_policy"],
                "adaptations": pref["adaptations"],
                "accuracy": pref.get("prefetch_accuracy", np.nan),
                "coverage": pref.get("prefetch_coverage", np.nan),
                "timeliness": pref.get("prefetch_timeliness", np.nan),
            }
        )
    return pd.DataFrame.from_records(rows).round(4)


def _detail(s: Any) -> dict[str, Any]:
    try:
        return json.loads(s) if isinstance(s, str) else {}
    except ValueError:
        return {}


def timeline(
    w: Workload, capacity: int, cycle_seconds: float = 60.0, threshold: float = 0.4
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per learning cycle: miss ratio of adaptive+prefetch vs each static policy; and the full event log."""
    times = np.asarray(w.times, dtype=float)
    edges = np.arange(0.0, times[-1] + cycle_seconds, cycle_seconds)
    cut = np.searchsorted(times, edges[1:], side="left").tolist()
    cut[-1] = len(times)
    misses = []
    for end in cut:
        r = simulate_adaptive(
            w.keys[:end], capacity, times=times[:end], threshold=threshold, cycle_seconds=cycle_seconds
        )
        misses.append(r["demand_misses"])
    trace = keys_to_trace(w.keys)
    rows = pd.DataFrame(
        {
            "cycle": range(len(cut)),
            "t_end": edges[1 : len(cut) + 1],
            "requests": np.diff([0, *cut]),
            "adaptive": np.diff([0, *misses]),
        }
    )
    for p in STATIC:
        flags = simulate(trace, p, capacity, keep_hits=True).hit_flags
        assert flags is not None
        miss_cum = np.concatenate([[0], np.cumsum(1 - flags.astype(np.int64))])
        rows[p] = np.diff(miss_cum[[0, *cut]])
    for col in ("adaptive", *STATIC):
        rows[col] = (rows[col] / rows["requests"]).round(4)
    log = EventLog(run_id="adaptive", world="sim")
    simulate_adaptive(w, capacity, threshold=threshold, cycle_seconds=cycle_seconds, event_log=log)
    return rows, log.to_frame()


def adaptations(log: pd.DataFrame) -> pd.DataFrame:
    """The adaptations the Cache_Adapter applied: when, what, from → to, and why."""
    a = log[
        (log["component"] == "Cache_Adapter")
        & log["operation"].isin(["switch_policy", "resize", "set_threshold"])
    ]
    rows = []
    for t, op, outcome, d in zip(a["time"], a["operation"], a["outcome"], a["detail"], strict=True):
        det = _detail(d)
        frm = det.get("from", det.get("prefetch_budget_from", det.get("threshold_from")))
        to = det.get("to", det.get("prefetch_budget_to", det.get("threshold_to")))
        rows.append(
            {
                "time": round(float(t), 1),
                "adaptation": op,
                "outcome": outcome,
                "from": str(frm),
                "to": str(to),
                "reason": str(det.get("reason", ""))[:70],
            }
        )
    return pd.DataFrame.from_records(rows)


def plot_timeline(tl: pd.DataFrame, log: pd.DataFrame, title: str) -> Any:
    """Per-cycle miss ratio (adaptive vs best and worst static) with the policy switches marked."""
    import matplotlib.pyplot as plt

    from lab.style import label_marks

    means = tl[list(STATIC)].mean()
    best, worst = means.idxmin(), means.idxmax()
    fig, ax = plt.subplots(figsize=(10, 4.4), layout="constrained")
    ax.step(tl["t_end"], tl["adaptive"], where="pre", lw=2, color="tab:purple", label="adaptive + prefetch")
    ax.step(tl["t_end"], tl[best], where="pre", color="tab:green", label=f"best static ({best})")
    ax.step(tl["t_end"], tl[worst], where="pre", color="tab:gray", ls="--", label=f"worst static ({worst})")
    ad = adaptations(log)
    switches = ad[ad["adaptation"] == "switch_policy"]
    marks = [(float(t), f"→{to}") for t, to in zip(switches["time"], switches["to"], strict=True)]
    rows = label_marks(ax, marks, color="tab:purple", alpha=0.4, gap=0.08)
    ax.set_xlabel("time (s); one step per 60-s learning cycle")
    ax.set_ylabel("miss ratio in the cycle")
    ax.set_title(title, pad=8 + 12 * rows)
    fig.legend(loc="outside lower center", ncol=3)
    return fig


def plot_compare(cmp: pd.DataFrame) -> Any:
    """Miss ratio per workload: LRU, best static, adaptive, adaptive+prefetch; and prefetch quality."""
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
    cols = [
        ("lru_mr", "LRU"),
        ("best_static_mr", "best static"),
        ("adaptive_mr", "adaptive"),
        ("adaptive_prefetch_mr", "adaptive + prefetch"),
    ]
    x = np.arange(len(cmp))
    for i, (c, label) in enumerate(cols):
        ax1.bar(x + (i - 1.5) * 0.2, cmp[c], width=0.2, label=label)
    ax1.set_xticks(x, cmp["workload"], rotation=30, ha="right")
    ax1.set_ylabel("miss ratio")
    ax1.set_xlabel("workload")
    ax1.set_ylim(0, 1.0)
    ax1.set_title("miss ratio (lower is better)")
    ax1.legend(loc="lower center", bbox_to_anchor=(0.5, 1.08), ncol=2)
    for i, c in enumerate(("accuracy", "coverage", "timeliness")):
        ax2.bar(x + (i - 1) * 0.25, cmp[c].fillna(0.0), width=0.25, label=c)
    ax2.set_xticks(x, cmp["workload"], rotation=30, ha="right")
    ax2.set_ylim(0, 1.05)
    ax2.set_xlabel("workload")
    ax2.set_ylabel("fraction")
    ax2.set_title("prefetch quality (higher is better)")
    ax2.legend(loc="lower center", bbox_to_anchor=(0.5, 1.08), ncol=3)
    return fig


def conclusion(cmp: pd.DataFrame, tl: pd.DataFrame, log: pd.DataFrame) -> str:
    """The notebook's conclusion, worded from the results."""
    lines = []
    for r in cmp.to_dict("records"):
        gain = r["best_static_mr"] - r["adaptive_prefetch_mr"]
        verdict = "beats" if gain > 0.005 else ("matches" if gain > -0.005 else "trails")
        lines.append(
            f"- {r['workload']}: adaptive+prefetch {verdict} the best static policy ({r['best_static']}) — "
            f"{r['adaptive_prefetch_mr']:.3f} vs {r['best_static_mr']:.3f} (LRU {r['lru_mr']:.3f}); "
            f"fetch ratio {r['fetch_ratio']:.3f}; prefetch accuracy {r['accuracy']:.2f}, coverage "
            f"{r['coverage']:.2f}; ended on {r['final_policy']} after {r['adaptations']} adaptations."
        )
    ad = adaptations(log)
    counts = ad["adaptation"].value_counts()
    first, last = tl.iloc[0], tl.iloc[-1]
    lines.append(
        f"Timeline: {len(tl)} learning cycles, adaptations "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
        + f"; the adaptive miss ratio went from {first['adaptive']:.3f} in the first cycle to "
        f"{last['adaptive']:.3f} in the last."
    )
    return "\n".join(lines)
