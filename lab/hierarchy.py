"""Notebook 02: tier latencies measured on this machine, promotion paths, and sim vs real on one trace.

Real side: :mod:`sim.realrun` (the real CacheManager over RedisTier/SqlTier — fakeredis and a temporary
SQLite by default, Redis/PostgreSQL when ``SUPREME_REDIS_URL``/``SUPREME_DATABASE_URL`` are set).
Simulated side: :mod:`sim.models.cache_hierarchy` calibrated with the samples measured here.
Latencies are wall-clock and differ per run; the functions that return them are named ``measure_*``
and the notebook prints only facts that do not move (hit ratios, orderings).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from lab.embedded import backend_names, shared_tiers
from sim.compare import hit_ratios, latency_errors
from sim.realrun import calibrate_tiers, run_real
from sim.runner import run_model
from sim.workload import keys_for
from supreme.clock import ManualClock
from supreme.config import load_settings
from supreme.events import EventLog

__all__ = [
    "measure_sim_vs_real",
    "measure_tiers",
    "plot_latencies",
    "plot_sim_vs_real",
    "promotion_paths",
    "tier_facts",
]


def measure_tiers(n: int = 300, book_path: str | Path | None = None) -> tuple[pd.DataFrame, Any]:
    """Time the real tiers' hit/miss/set paths (configured back-ends); samples in µs and the LatencyBook."""
    s = load_settings()
    url = s.database_url if s.database_kind == "postgresql" else None
    book = calibrate_tiers(book_path, redis_url=s.redis_url, database_url=url, n=n)
    rows = []
    for key in (
        "L1.get.hit",
        "L1.get.miss",
        "L2.get.hit",
        "L2.get.miss",
        "L2.set.ok",
        "L3.get.hit",
        "L3.get.miss",
        "L3.set.ok",
    ):
        model = book[key]
        samples = np.asarray(cast(Any, model).samples, dtype=np.float64) * 1e6
        rows += [{"step": key, "us": v} for v in samples]
    return pd.DataFrame.from_records(rows), book


def tier_facts(samples: pd.DataFrame) -> dict[str, bool]:
    """Orderings and budget checks that hold on any machine where the design holds."""
    med = samples.groupby("step")["us"].median()
    return {
        "L1 hit faster than an L2 hit": bool(med["L1.get.hit"] < med["L2.get.hit"]),
        "L1 hit faster than an L3 hit": bool(med["L1.get.hit"] < med["L3.get.hit"]),
        "L1 hit within the 1 µs budget (median)": bool(med["L1.get.hit"] < 1.0),
    }


def plot_latencies(samples: pd.DataFrame, backends: dict[str, str]) -> Any:
    """Box plot of each step's latency (log scale) with the seed's tier budgets."""
    import matplotlib.pyplot as plt

    steps = list(dict.fromkeys(samples["step"]))
    fig, ax = plt.subplots(figsize=(10, 3.8))
    ax.boxplot([samples.loc[samples["step"] == s, "us"] for s in steps], showfliers=False)
    ax.set_xticks(range(1, len(steps) + 1), steps, rotation=15)
    ax.set_yscale("log")
    for budget, label in (
        (1, "L1 budget 1 µs"),
        (100, "Redis budget 0.1 ms"),
        (1000, "PostgreSQL budget 1 ms"),
    ):
        ax.axhline(budget, ls=":", color="gray")
        ax.text(len(steps) + 0.4, budget, label, fontsize=7, va="bottom", ha="right")
    ax.set_ylabel("µs per call")
    ax.set_xlabel("tier step")
    ax.set_title(f"tier latencies on this machine (L2 {backends['L2']}, L3 {backends['L3']})")
    fig.tight_layout()
    return fig


def promotion_paths() -> pd.DataFrame:
    """The event log of the three promotion paths: L3 hit → L2, L1; L2 hit → L1; L1 hit."""
    clock = ManualClock(0.0)
    log = EventLog(run_id="promotion", world="real")
    with shared_tiers(clock) as tiers:
        m = tiers.manager(clock, l1_capacity=8, event_log=log)
        m.get("ohlcv:SPX:1d", loader=lambda: {"close": 2506.85}, request_id="1-source")
        m.l1.delete("ohlcv:SPX:1d")
        tiers.l2.delete("ohlcv:SPX:1d")
        m.get("ohlcv:SPX:1d", request_id="2-L3-hit")
        m.l1.delete("ohlcv:SPX:1d")
        m.get("ohlcv:SPX:1d", request_id="3-L2-hit")
        m.get("ohlcv:SPX:1d", request_id="4-L1-hit")
    df = log.to_frame()
    return df[["request_id", "component", "operation", "outcome", "tier"]].fillna("")


def measure_sim_vs_real(
    n: int = 2000,
    workload: str = "zipf_shifting",
    capacity: int = 100,
    seed: int = 0,
    book_path: str | Path | None = None,
) -> dict[str, Any]:
    """The same key sequence through the real manager and the calibrated simulation (back to back)."""
    s = load_settings()
    url = s.database_url if s.database_kind == "postgresql" else None
    keys = keys_for(workload, n, seed)
    with tempfile.TemporaryDirectory() as tmp:
        book = Path(book_path) if book_path else Path(tmp) / "book.json"
        if not book.exists():
            calibrate_tiers(book, redis_url=s.redis_url, database_url=url, n=200)
        real = run_real(keys, redis_url=s.redis_url, database_url=url, capacity=capacity, seed=seed)
        back = backend_names(s)
        sc = {
            "workload.name": workload,
            "workload.n": n,
            "workload.seed": seed,
            "cache.l1.capacity": capacity,
            "l2.backend": "redis" if back["L2"] == "redis" else "fakeredis",
            "l3.backend": back["L3"],
            "latency.book": str(book),
            "seed": seed,
            "workload.rate": 1e9,
        }
        sim = run_model("cache_hierarchy", sc)
    return {
        "real": real,
        "sim": sim,
        "hit_ratios": hit_ratios(real, sim),
        "latency": latency_errors(real, sim),
    }


def plot_sim_vs_real(real: pd.DataFrame, sim: pd.DataFrame) -> Any:
    """ECDF of the end-to-end response latency in both worlds."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.6))
    for name, log in (("real", real), ("sim", sim)):
        lat = (
            np.sort(
                log.loc[
                    (log["component"] == "Application") & (log["operation"] == "response"), "latency"
                ].to_numpy(float)
            )
            * 1e6
        )
        ax.step(lat, np.arange(1, lat.size + 1) / lat.size, where="post", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("response latency (µs)")
    ax.set_ylabel("fraction of requests")
    ax.set_title("same key sequence, real manager vs calibrated simulation")
    ax.legend()
    fig.tight_layout()
    return fig
