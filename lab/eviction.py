"""Notebook 03: miss-ratio curves of every eviction policy on market-data workloads and a standard trace.

The policies are the project's own (``supreme.cache.policies``) run through the compiled kernels
of :mod:`supreme.cache.traces.simulate`; OPT (Belady) is the offline bound no online policy can beat.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from supreme.adaptive import workloads as wl
from supreme.cache.kernels import KERNELS
from supreme.cache.trace import Trace, load_trace
from supreme.cache.traces.simulate import simulate
from supreme.paths import SharedDataMissing, shared_trace

__all__ = [
    "STANDARD_TRACE",
    "conclusion",
    "keys_to_trace",
    "market_workloads",
    "mrc_table",
    "plot_curve",
    "plot_mrcs",
    "plot_regret",
    "standard_trace",
    "winner_grid",
    "winners",
]

#: The shared standard trace (libCacheSim's cloudPhysics sample, oracleGeneral format).
STANDARD_TRACE = "cloudPhysicsIO.oracleGeneral.bin"


def keys_to_trace(keys: list[str]) -> Trace:
    """A unit-size trace whose ids number the keys in order of first appearance."""
    codes, _ = pd.factorize(pd.Series(keys, dtype="object"))
    return Trace.from_ids(codes.astype(np.int64))


def market_workloads(n: int = 20_000, seed: int = 0, prices: pd.DataFrame | None = None) -> dict[str, Trace]:
    """The seeded market-data workloads of :mod:`supreme.adaptive.workloads`, as traces."""
    made = [
        wl.dashboard_replay(n, seed=seed),
        wl.candle_walk(n, seed=seed),
        wl.volatility_bursts(n, prices=prices, seed=seed),
        wl.zipf_shifting(n, seed=seed),
        wl.scan_with_hot_set(n, seed=seed),
    ]
    return {w.name: keys_to_trace(w.keys) for w in made}


def standard_trace(max_requests: int | None = None) -> tuple[Trace | None, str]:
    """The shared standard trace (first ``max_requests``) and a sentence saying what was used."""
    try:
        path = shared_trace(STANDARD_TRACE)
    except SharedDataMissing as exc:
        return None, f"standard trace not available ({exc}); the market-data workloads stand in for it"
    trace = load_trace(path)
    if max_requests is not None and len(trace) > max_requests:
        trace = Trace(trace.time[:max_requests], trace.obj_id[:max_requests], trace.obj_size[:max_requests])
    return (
        trace,
        f"standard trace {STANDARD_TRACE}: {len(trace):,} requests, {len(np.unique(trace.obj_id)):,} objects",
    )


def _sizes(trace: Trace, fractions: list[float]) -> list[int]:
    wss = len(np.unique(trace.obj_id))
    return sorted({max(1, round(f * wss)) for f in fractions})


def mrc_table(
    traces: dict[str, Trace],
    policies: list[str] | None = None,
    fractions: list[float] | None = None,
    warmup_frac: float = 0.1,
) -> pd.DataFrame:
    """Miss ratio of every policy at cache sizes given as fractions of each trace's working set."""
    # the compiled policies by default: the class-only research policies (GDSF, LIRS, ...) run in
    # Python, too slow for this sweep; pass them in ``policies`` to include them
    names = policies or list(KERNELS)
    fracs = fractions or [0.01, 0.02, 0.05, 0.1, 0.2, 0.4]
    rows: list[dict[str, Any]] = []
    for wname, trace in traces.items():
        wss = len(np.unique(trace.obj_id))
        warm = int(len(trace) * warmup_frac)
        for size in _sizes(trace, fracs):
            for p in names:
                r = simulate(trace, p, size, warmup=warm)
                rows.append(
                    {
                        "workload": wname,
                        "policy": r.policy,
                        "size": size,
                        "size_frac": size / wss,
                        "miss_ratio": r.miss_ratio,
                    }
                )
    return pd.DataFrame.from_records(rows)


def winners(mrc: pd.DataFrame) -> pd.DataFrame:
    """Per workload and size: the best online policy, its miss ratio, OPT's, and LRU's."""
    online = mrc[mrc["policy"] != "opt"]
    best = online.loc[online.groupby(["workload", "size"])["miss_ratio"].idxmin()]
    opt = mrc[mrc["policy"] == "opt"].set_index(["workload", "size"])["miss_ratio"]
    lru = mrc[mrc["policy"] == "lru"].set_index(["workload", "size"])["miss_ratio"]
    out = best.set_index(["workload", "size"])[["size_frac", "policy", "miss_ratio"]]
    out = out.rename(columns={"policy": "best", "miss_ratio": "best_mr"})
    out["opt_mr"] = opt
    out["lru_mr"] = lru
    out["gap_to_opt"] = out["best_mr"] - out["opt_mr"]
    return out.reset_index().round({"size_frac": 3, "best_mr": 4, "opt_mr": 4, "lru_mr": 4, "gap_to_opt": 4})


def winner_grid(mrc: pd.DataFrame) -> pd.DataFrame:
    """Best online policy per workload (rows) and cache size as % of the working set (columns)."""
    win = winners(mrc)
    win["size_pct"] = (win["size_frac"] * 100).round(1)
    return win.pivot_table(index="workload", columns="size_pct", values="best", aggfunc="first")


def plot_curve(table: pd.DataFrame, *, title: str, xlabel: str) -> Any:
    """One trace's miss-ratio curves: a column per policy over the size index, log-scaled sizes."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in table.columns:
        ax.plot(table.index, table[name], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("miss ratio")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def _percent_ticks(ax: Any, lo: float, hi: float) -> None:
    """Log-x ticks at 1-2-5 steps labelled as plain percentages (no minor labels to collide)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    steps = [m * 10.0**e for e in range(-3, 4) for m in (1, 2, 5)]
    ticks = [t for t in steps if lo * 0.999 <= t <= hi * 1.001] or [lo, hi]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_mrcs(mrc: pd.DataFrame) -> Any:
    """One panel per workload: miss ratio against cache size (log x), OPT dashed; one legend below."""
    import matplotlib.pyplot as plt

    workloads = list(dict.fromkeys(mrc["workload"]))
    cols = 3
    rows = (len(workloads) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(12, 3.3 * rows + 0.6), squeeze=False,
                             layout="constrained")
    for ax, w in zip(axes.flat, workloads, strict=False):
        sub = mrc[mrc["workload"] == w]
        for p, g in sub.groupby("policy", sort=False):
            style = {"ls": "--", "color": "black", "lw": 1.5} if p == "opt" else {"marker": ".", "lw": 1}
            ax.plot(g["size_frac"] * 100, g["miss_ratio"], label=p, **style)
        ax.set_xscale("log")
        pct = sub["size_frac"] * 100
        _percent_ticks(ax, float(pct.min()), float(pct.max()))
        ax.set_title(w)
        ax.set_xlabel("cache size (% of working set)")
        ax.set_ylabel("miss ratio")
    for ax in list(axes.flat)[len(workloads) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels),
               title="policy (OPT: offline bound)")
    return fig


def plot_regret(mrc: pd.DataFrame) -> Any:
    """Heat map: each policy's mean excess miss ratio over OPT per workload (lower is better)."""
    import matplotlib.pyplot as plt

    from lab.style import text_color_on

    opt = mrc[mrc["policy"] == "opt"].set_index(["workload", "size"])["miss_ratio"]
    online = mrc[mrc["policy"] != "opt"].copy()
    online["excess"] = (
        online["miss_ratio"].to_numpy()
        - opt.reindex(pd.MultiIndex.from_frame(online[["workload", "size"]])).to_numpy()
    )
    table = online.pivot_table(index="policy", columns="workload", values="excess", aggfunc="mean")
    fig, ax = plt.subplots(figsize=(9, 4.4))
    im = ax.imshow(table.to_numpy(), aspect="auto", cmap="magma_r")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=20, ha="right")
    ax.set_yticks(range(table.shape[0]), table.index)
    for (i, j), v in np.ndenumerate(table.to_numpy()):
        # the annotation colour follows the cell's luminance, so every number stays readable
        ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=8,
                color=text_color_on(im.cmap(im.norm(v))))
    ax.set_title("mean miss ratio above OPT (lower is better)")
    ax.set_xlabel("workload")
    ax.set_ylabel("policy")
    ax.grid(False)
    fig.colorbar(im, ax=ax, label="miss ratio above OPT")
    fig.tight_layout()
    return fig


def conclusion(mrc: pd.DataFrame, trace_note: str) -> str:
    """The notebook's conclusion, worded from the table."""
    win = winners(mrc)
    lines = [trace_note]
    for w, g in win.groupby("workload", sort=False):
        counts = g["best"].value_counts()
        top = counts.index[0]
        small, large = g.iloc[0], g.iloc[-1]
        lines.append(
            f"- {w}: {top} is best at {counts.iloc[0]} of {len(g)} sizes; at {small['size_frac']:.1%} of the "
            f"working set the best online policy ({small['best']}) misses {small['best_mr']:.3f} vs OPT "
            f"{small['opt_mr']:.3f} and LRU {small['lru_mr']:.3f}; at {large['size_frac']:.1%}: "
            f"{large['best']} {large['best_mr']:.3f} vs OPT {large['opt_mr']:.3f}."
        )
    overall = win["best"].value_counts()
    lines.append("Overall wins (workload x size): " + ", ".join(f"{k} {v}" for k, v in overall.items()) + ".")
    lines.append(
        f"Largest gap left to OPT: {win['gap_to_opt'].max():.3f} "
        f"({win['workload'].iloc[int(np.argmax(win['gap_to_opt'].to_numpy()))]})."
    )
    return "\n".join(lines)
