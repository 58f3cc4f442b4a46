"""Notebook 09: a policy x cache size x prefetch threshold grid on dask.distributed, gathered into one frame.

:func:`run_one` is the pure, picklable ``run_one(scenario) -> dict`` that :func:`sim.sweep.run_sweep`
sends to the workers; each scenario is a flat dict with dotted keys and one ``seed``, and each result
row carries its full scenario, so any number can be reproduced from its row.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from tqdm import TqdmWarning

with warnings.catch_warnings():  # tqdm.auto warns about ipywidgets in a kernel; progress is off anyway
    warnings.simplefilter("ignore", TqdmWarning)
    from sim.sweep import expand_grid, run_sweep
from lab.adaptive import WORKLOADS
from supreme.adaptive import simulate_adaptive
from supreme.adaptive.workloads import Workload

__all__ = ["BASE", "GRID", "SERVICE", "conclusion", "plot_heatmaps", "run_grid", "run_one"]

#: The default grid (threshold 1.0 stands for "no prefetching": the run has no prefetch engine).
GRID: dict[str, list[Any]] = {
    "cache.policy": ["lru", "arc", "s3fifo", "wtinylfu"],
    "cache.size": [20, 40, 80],
    "prefetch.threshold": [0.2, 0.4, 0.6, 1.0],
}
BASE: dict[str, Any] = {"workload.name": "dashboard_replay", "workload.n": 8000, "seed": 0}


#: the workload name of the captured service trace (``workload.n`` signal requests served)
SERVICE = "service_captured"


@functools.lru_cache(maxsize=8)
def _workload(name: str, n: int, seed: int) -> Workload:
    if name == SERVICE:  # captured once per worker process (cached), from the scenario's seed alone
        from lab.service_trace import as_workload, capture_service_trace

        return as_workload(capture_service_trace(n, seed=seed))
    return WORKLOADS[name](n, seed=seed)


def run_one(scenario: Mapping[str, Any]) -> dict[str, Any]:
    """One static-policy cache with prefetching at one threshold; miss and fetch ratios."""
    threshold = float(scenario["prefetch.threshold"])
    w = _workload(str(scenario["workload.name"]), int(scenario["workload.n"]), int(scenario["seed"]))
    r = simulate_adaptive(
        w,
        int(scenario["cache.size"]),
        base_policy=str(scenario["cache.policy"]),
        adaptive=False,
        prefetch=threshold < 1.0,
        threshold=threshold,
        seed=int(scenario["seed"]),
    )
    return {
        "miss_ratio": round(r["miss_ratio"], 6),
        "fetch_ratio": round(r["fetch_ratio"], 6),
        "prefetch_accuracy": round(float(r.get("prefetch_accuracy", np.nan)), 6),
    }


def run_grid(
    grid: Mapping[str, list[Any]] | None = None,
    base: Mapping[str, Any] | None = None,
    executor: str = "dask",
    n_workers: int = 2,
) -> pd.DataFrame:
    """Expand the grid over ``base`` and run it (``executor``: serial, dask or a scheduler address)."""
    scenarios = expand_grid(grid or GRID, {**BASE, **(base or {})})
    for name in ("distributed", "distributed.worker", "distributed.scheduler", "distributed.nanny"):
        logging.getLogger(name).setLevel(logging.ERROR)  # keep cluster chatter out of notebook output
    return run_sweep(run_one, scenarios, executor, progress=False, n_workers=n_workers)


def plot_heatmaps(df: pd.DataFrame, value: str = "miss_ratio") -> Any:
    """One heat map per cache size: policy (rows) x prefetch threshold (columns)."""
    import matplotlib.pyplot as plt

    sizes = sorted(df["cache.size"].unique())
    from lab.style import text_color_on

    fig, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 3.6), squeeze=False, sharey=True,
                             layout="constrained")
    vmin, vmax = float(df[value].min()), float(df[value].max())
    im = None
    for ax, size in zip(axes.flat, sizes, strict=True):
        t = df[df["cache.size"] == size].pivot(
            index="cache.policy", columns="prefetch.threshold", values=value
        )
        im = ax.imshow(t.to_numpy(), vmin=vmin, vmax=vmax, cmap="viridis_r", aspect="auto")
        ax.set_xticks(range(t.shape[1]), ["off" if c >= 1 else f"{c:g}" for c in t.columns])
        ax.set_yticks(range(t.shape[0]), t.index)
        for (i, j), v in np.ndenumerate(t.to_numpy()):
            # annotation colour from the cell's own luminance: readable on every shade
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
                    color=text_color_on(im.cmap(im.norm(v))))
        ax.set_title(f"size {size}")
        ax.set_xlabel("prefetch threshold")
        ax.grid(False)
    axes.flat[0].set_ylabel("policy")  # shared by the row: only the first panel shows the names
    if im is not None:
        fig.colorbar(im, ax=list(axes.flat), label=value.replace("_", " "))
    return fig


def conclusion(df: pd.DataFrame) -> str:
    """Best cell per size and what prefetching bought, worded from the frame."""
    lines = [
        f"{len(df)} runs ({df['workload.name'].iloc[0]}, {df['workload.n'].iloc[0]} requests, seed "
        f"{df['seed'].iloc[0]})."
    ]
    for size, g in df.groupby("cache.size"):
        best = g.iloc[int(np.argmin(g["miss_ratio"].to_numpy()))].to_dict()
        off = g[g["prefetch.threshold"] >= 1]
        best_off = off.iloc[int(np.argmin(off["miss_ratio"].to_numpy()))].to_dict()
        lines.append(
            f"- size {size}: best {best['cache.policy']} at threshold {best['prefetch.threshold']:g} "
            f"(miss ratio {best['miss_ratio']:.3f}, fetch ratio {best['fetch_ratio']:.3f}); without "
            f"prefetching the best is {best_off['cache.policy']} at {best_off['miss_ratio']:.3f}."
        )
    return "\n".join(lines)
