"""Fast trace simulation: compiled kernels over integer-remapped ids, MRCs.

``simulate`` remaps object ids to 0..k-1, runs the policy's kernel from
``supreme.cache.kernels`` (or the Python class with ``engine="python"``, the
reference the kernels are tested against; a policy without a kernel always runs its
class) and counts hits after ``warmup`` requests.  Nothing here touches Redis or SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from supreme.cache.kernels import KERNELS, run_kernel
from supreme.cache.policies import POLICIES, PolicyError, make_policy, normalize_name, split_spec
from supreme.cache.trace import Trace

__all__ = ["SimResult", "auto_sizes", "miss_ratio_curve", "simulate"]


#: the columns of :meth:`SimResult.as_dict` (and of :func:`miss_ratio_curve`)
ROW_COLUMNS = ["policy", "size", "requests", "hits", "misses", "miss_ratio", "byte_miss_ratio"]


@dataclass
class SimResult:
    """Counts of one simulation (requests after warm-up only)."""

    policy: str
    size: int
    requests: int
    hits: int
    bytes_requested: int
    bytes_hit: int
    hit_flags: np.ndarray | None = field(default=None, repr=False)

    @property
    def misses(self) -> int:
        """Requests that missed."""
        return self.requests - self.hits

    @property
    def miss_ratio(self) -> float:
        """Request miss ratio."""
        return self.misses / self.requests if self.requests else 0.0

    @property
    def byte_miss_ratio(self) -> float:
        """Byte miss ratio (bytes of missed requests over bytes requested)."""
        return 1.0 - self.bytes_hit / self.bytes_requested if self.bytes_requested else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Flat row for a DataFrame."""
        return {"policy": self.policy, "size": self.size, "requests": self.requests, "hits": self.hits,
                "misses": self.misses, "miss_ratio": self.miss_ratio, "byte_miss_ratio": self.byte_miss_ratio}


def _python_hits(name: str, ids: np.ndarray, sizes: np.ndarray, size: int, nxt: np.ndarray | None,
                 **kwargs: Any) -> np.ndarray:
    if name == "opt":
        kwargs["next_access"] = nxt
    policy = make_policy(name, size, **kwargs)
    hits = np.zeros(len(ids), np.uint8)
    request = policy.request
    for i, (x, s) in enumerate(zip(ids.tolist(), sizes.tolist(), strict=True)):
        if request(x, s):
            hits[i] = 1
    return hits


def simulate(
    trace: Trace,
    policy: str,
    size: int,
    *,
    warmup: int = 0,
    ignore_size: bool = True,
    keep_hits: bool = False,
    engine: str = "kernel",
    **policy_kwargs: Any,
) -> SimResult:
    """Replay ``trace`` through ``policy`` of capacity ``size`` (objects, or bytes if not ignore_size)."""
    name = normalize_name(policy)
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size <= 0:
        raise PolicyError(f"cache size must be a positive integer, got {size!r}")
    if warmup < 0:
        raise PolicyError(f"warmup must be >= 0, got {warmup!r}")
    if engine not in ("kernel", "python"):
        raise PolicyError(f"engine must be 'kernel' or 'python', got {engine!r}")
    ids, n_obj = trace.dense_ids()
    sizes = np.ones(len(ids), np.int64) if ignore_size else trace.obj_size.astype(np.int64)
    nxt = trace.next_access() if name == "opt" else None
    if engine == "kernel" and split_spec(name)[0] in KERNELS:
        extra = dict(policy_kwargs)
        if nxt is not None:
            extra["next_access"] = nxt
        flags = run_kernel(name, ids, sizes, int(size), n_obj, **extra)
    else:  # engine="python", or a class-only policy (GDSF, LIRS, ...: no compiled kernel)
        flags = _python_hits(name, ids, sizes, int(size), nxt, **policy_kwargs)
    after = flags[warmup:]
    counted_sizes = trace.obj_size[warmup:].astype(np.int64)  # real bytes even when capacity counts objects
    return SimResult(
        policy=name, size=int(size), requests=len(after), hits=int(after.sum()),
        bytes_requested=int(counted_sizes.sum()), bytes_hit=int(counted_sizes[after.astype(bool)].sum()),
        hit_flags=flags if keep_hits else None,
    )


def auto_sizes(trace: Trace, points: int = 10, ignore_size: bool = True) -> list[int]:
    """Log-spaced sizes from 0.1 % to 100 % of the working set (objects or bytes)."""
    if ignore_size:
        wss = len(np.unique(trace.obj_id))
    else:
        _, first = np.unique(trace.obj_id, return_index=True)
        wss = int(trace.obj_size[first].sum())
    sizes = np.unique(np.geomspace(max(1, wss // 1000), max(1, wss), points).astype(np.int64))
    return [int(s) for s in sizes if s > 0]


def miss_ratio_curve(trace: Trace, policy: str, sizes: list[int] | np.ndarray, *, warmup: int = 0,
                     ignore_size: bool = True, engine: str = "kernel", one_pass: bool = False,
                     progress: bool = False) -> pd.DataFrame:
    """One row per (policy, size); ``policy="all"`` runs every registered policy.

    With ``one_pass``, LRU in object mode comes from one stack-distance pass
    (:func:`supreme.cache.mrc.lru_mrc`, equal to the per-size runs) instead of one run per size.
    ``progress`` shows a bar over the runs when they replay 5M requests or more in all.
    """
    from tqdm import tqdm

    names = list(POLICIES) if str(policy).lower() == "all" else [normalize_name(policy)]
    fast = one_pass and ignore_size and engine == "kernel" and "lru" in names
    runs = [(n, int(s)) for n in names for s in sizes if not (fast and n == "lru")]
    frames = []
    if fast:
        from supreme.cache.mrc import lru_mrc

        frames.append(lru_mrc(trace, sizes, warmup=warmup, progress=progress).drop(columns="method"))
    short = len(trace) * len(runs) < 5_000_000  # a few seconds at most: no bar
    bar = tqdm(runs, desc="per-size runs", unit="run", disable=not progress or short, leave=False)
    rows = [simulate(trace, n, s, warmup=warmup, ignore_size=ignore_size, engine=engine).as_dict()
            for n, s in bar]
    frames.append(pd.DataFrame.from_records(rows, columns=ROW_COLUMNS))
    out = pd.concat([f for f in frames if len(f)] or frames[-1:], ignore_index=True)
    order = {n: i for i, n in enumerate(names)}
    return out.sort_values(["policy", "size"], key=lambda c: c.map(order) if c.name == "policy" else c,
                           kind="stable", ignore_index=True)
