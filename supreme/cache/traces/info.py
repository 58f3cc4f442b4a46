"""What a trace holds: requests, objects, working set, one-hit wonders, a reuse-distance histogram.

The reuse distance of a request is its LRU stack distance (:func:`supreme.cache.mrc.lru_distances`):
how many distinct objects were requested since the object's previous request, plus one — the
smallest LRU cache (in objects) in which the request hits.  The histogram bins it by powers of two;
first requests form their own row (``cold``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from supreme.cache.trace import Trace

__all__ = ["TraceInfo", "reuse_histogram", "trace_info"]


@dataclass
class TraceInfo:
    """Summary figures of a trace, and its reuse-distance histogram."""

    requests: int
    objects: int
    working_set_bytes: int
    bytes_requested: int
    one_hit_wonders: int
    time_span: int
    reuse: pd.DataFrame = field(repr=False)

    @property
    def one_hit_wonder_ratio(self) -> float:
        """One-hit wonders over distinct objects."""
        return self.one_hit_wonders / self.objects if self.objects else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The scalar figures as one flat row."""
        return {"requests": self.requests, "objects": self.objects,
                "working_set_bytes": self.working_set_bytes, "bytes_requested": self.bytes_requested,
                "one_hit_wonders": self.one_hit_wonders, "one_hit_wonder_ratio": self.one_hit_wonder_ratio,
                "time_span": self.time_span}


def reuse_histogram(distances: np.ndarray) -> pd.DataFrame:
    """Requests per power-of-two bin of stack distance (``1``, ``2-3``, ``4-7`` ...), cold first."""
    d = np.asarray(distances)
    n = len(d)
    cold = int((d < 0).sum())
    reuse = d[d > 0]
    rows: list[dict[str, Any]] = [{"bin": "cold", "distance_from": np.nan, "distance_to": np.nan,
                                   "requests": cold}]
    if len(reuse):
        exp = np.floor(np.log2(reuse)).astype(np.int64)
        counts = np.bincount(exp)
        for k, c in enumerate(counts):
            if c:
                lo, hi = 1 << k, (1 << (k + 1)) - 1
                rows.append({"bin": f"{lo}-{hi}" if hi > lo else f"{lo}", "distance_from": lo,
                             "distance_to": hi, "requests": int(c)})
    frame = pd.DataFrame.from_records(rows)
    frame[["distance_from", "distance_to"]] = frame[["distance_from", "distance_to"]].astype("Int64")
    frame["fraction"] = frame["requests"] / n if n else 0.0
    frame["cumulative_hit_fraction"] = np.where(frame["bin"] == "cold", np.nan,
                                                frame["fraction"].where(frame["bin"] != "cold", 0.0).cumsum())
    return frame


def trace_info(trace: Trace, *, progress: bool = False) -> TraceInfo:
    """Counts, working set (each object at its first size), one-hit wonders and reuse histogram."""
    from supreme.cache.mrc import lru_distances

    ids, n_obj = trace.dense_ids()
    counts = np.bincount(ids, minlength=n_obj)
    first = np.full(n_obj, -1, np.int64)
    first[ids[::-1]] = np.arange(len(ids))[::-1]  # the last write per id wins: its first request
    wss = int(trace.obj_size[first].sum()) if n_obj else 0
    span = int(trace.time.max() - trace.time.min()) if len(trace) else 0
    return TraceInfo(requests=len(trace), objects=n_obj, working_set_bytes=wss,
                     bytes_requested=int(trace.obj_size.sum()), one_hit_wonders=int((counts == 1).sum()),
                     time_span=span, reuse=reuse_histogram(lru_distances(trace, progress=progress)))
