"""The adaptive layer beside a static policy over a recorded trace, size by size (``supreme trace``).

The static run replays the trace through the compiled kernels; the adaptive run goes request by
request through :func:`supreme.adaptive.simulate.simulate_adaptive` (the real adaptive layer over a
key-only cache starting on the same policy; a prefetch is charged as a source fetch).  The learning
cycle runs on the trace's own clock (its ``time`` column, seconds) or, with ``rate``, on request
``i`` at ``i / rate`` seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from supreme.adaptive.simulate import simulate_adaptive
from supreme.adaptive.workloads import trace_keys
from supreme.cache.policies import PolicyError, normalize_name
from supreme.cache.trace import Trace, TraceError
from supreme.cache.traces import simulate

__all__ = ["adaptive_rows", "request_times"]


def request_times(trace: Trace, rate: float | None) -> np.ndarray:
    """Request times in seconds: ``i / rate``, or the trace's own times from 0."""
    if rate is not None:
        return np.arange(len(trace), dtype=float) / rate
    t = trace.time.astype(float)
    if len(t) > 1:
        back = np.flatnonzero(np.diff(t) < 0)
        if len(back):
            raise TraceError(f"trace times go backwards at record {int(back[0]) + 2}; "
                             "pass --rate R to space requests 1/R seconds apart instead")
    return t - t[0] if len(t) else t


def adaptive_rows(
    trace: Trace,
    policy: str,
    sizes: list[int],
    *,
    adaptive: bool = True,
    prefetch: bool = False,
    threshold: float = 0.4,
    rate: float | None = None,
    cycle_seconds: float = 60.0,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Static and adaptive figures per size, two rows each (``mode`` "static" and e.g. "adaptive")."""
    name = normalize_name(policy)
    keys = trace_keys(trace)
    times = request_times(trace, rate)
    mode = "+".join(m for m, on in (("adaptive", adaptive), ("prefetch", prefetch)) if on)
    rows: list[dict[str, Any]] = []
    for size in sizes:
        if not isinstance(size, int) or size <= 0:
            raise PolicyError(f"cache size must be a positive integer, got {size!r}")
        static = simulate(trace, name, size)
        rows.append({
            "size": size, "mode": "static", "policy": name, "requests": static.requests,
            "demand_misses": static.misses, "prefetch_fetches": 0, "source_fetches": static.misses,
            "miss_ratio": static.miss_ratio, "fetch_ratio": static.miss_ratio,
            "prefetch_accuracy": math.nan, "prefetch_coverage": math.nan, "final_policy": name,
            "policy_switches": 0, "adaptations": 0,
        })
        if progress is not None:
            progress(f"size {size}: {mode} run over {len(keys)} requests")
        r = simulate_adaptive(keys, size, base_policy=name, adaptive=adaptive, prefetch=prefetch,
                              threshold=threshold, times=times, cycle_seconds=cycle_seconds)
        rows.append({
            "size": size, "mode": mode, "policy": name, "requests": r["requests"],
            "demand_misses": r["demand_misses"], "prefetch_fetches": r["prefetch_fetches"],
            "source_fetches": r["source_fetches"], "miss_ratio": r["miss_ratio"],
            "fetch_ratio": r["fetch_ratio"], "prefetch_accuracy": r.get("prefetch_accuracy", math.nan),
            "prefetch_coverage": r.get("prefetch_coverage", math.nan), "final_policy": r["final_policy"],
            "policy_switches": r["policy_switches"], "adaptations": r["adaptations"],
        })
    return rows
