"""Pattern analyzer: what the last window of accesses looked like, run once per learning cycle.

For the window of recent demand keys ``x_1 … x_n`` it computes (the seed's "Calculate access
frequencies / Identify sequential patterns / Compute prediction scores"):

* access frequencies per key;
* sequential patterns: order-1 contexts ``x_{i-1} → x_i`` and order-2 contexts
  ``(x_{i-2}, x_{i-1}) → x_i``; the *predictability* of order m is the share of accesses a
  most-frequent-successor table of order m would have guessed right — an empirical upper bound,
  on this window, of what a next-key predictor of that order can achieve (Markov prefetching,
  Joseph & Grunwald, ISCA 1997);
* prediction score: how often the synaptic network's top predictions (made online, before the
  access) contained the key that was then accessed;
* reuse: reuse time (accesses between two uses of a key) and LRU stack distance (distinct keys
  between two uses, Mattson et al. 1970, computed with a Fenwick tree in O(n log n)); the
  working-set estimate is the number of distinct keys in the window (Denning's W(t, τ) with τ the
  window), plus the stack distance that covers 90 % of reuses — the LRU size that would catch them.

Output: an :class:`AnalysisReport` with a per-key DataFrame and a summary dict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from supreme.events import NULL_LOG, EventLog

__all__ = ["AnalysisReport", "PatternAnalyzer", "stack_distances"]

REPORT_COLUMNS = ("key", "count", "frequency", "top_next", "top_next_share", "mean_reuse_time")


@dataclass
class AnalysisReport:
    """One learning cycle's analysis: ``frame`` per key, ``summary`` figures, extra ``inputs``."""

    time: float
    frame: pd.DataFrame
    summary: dict[str, float]
    inputs: dict[str, Any] = field(default_factory=dict)


def stack_distances(keys: Sequence[Hashable]) -> np.ndarray:
    """LRU stack distance of each access (-1 for a first use): distinct keys since its last use."""
    n = len(keys)
    tree = [0] * (n + 1)  # Fenwick tree over positions: 1 where a key's latest use sits
    last: dict[Hashable, int] = {}
    out = np.full(n, -1, dtype=np.int64)
    for i, key in enumerate(keys):
        j = last.get(key)
        if j is not None:
            # distinct keys used after j = marks in (j, i)
            s, p = 0, i
            while p > 0:
                s += tree[p]
                p -= p & -p
            s2, p = 0, j + 1
            while p > 0:
                s2 += tree[p]
                p -= p & -p
            out[i] = s - s2
            p = j + 1
            while p <= n:
                tree[p] -= 1
                p += p & -p
        p = i + 1
        while p <= n:
            tree[p] += 1
            p += p & -p
        last[key] = i
    return out


def _predictability(keys: Sequence[Hashable], order: int) -> tuple[float, Counter[tuple[Hashable, ...]]]:
    """Share of accesses guessed by the most frequent successor of their order-m context."""
    n = len(keys)
    if n <= order:
        return float("nan"), Counter()
    grams: Counter[tuple[Hashable, ...]] = Counter(
        tuple(keys[i - order:i + 1]) for i in range(order, n)
    )
    best: dict[tuple[Hashable, ...], int] = {}
    for gram, c in grams.items():
        ctx = gram[:-1]
        if c > best.get(ctx, 0):
            best[ctx] = c
    return sum(best.values()) / (n - order), grams


class PatternAnalyzer:
    """Analyses a window of accesses into an :class:`AnalysisReport`."""

    def __init__(self, *, event_log: EventLog = NULL_LOG) -> None:
        self._log = event_log

    def analyze(
        self,
        keys: Sequence[Hashable],
        now: float,
        *,
        predictions_checked: int = 0,
        predictions_right: int = 0,
        inputs: dict[str, Any] | None = None,
    ) -> AnalysisReport:
        """Analyse ``keys`` (oldest first); prediction counts come from the layer's online scoring."""
        keys = list(keys)
        n = len(keys)
        counts = Counter(keys)
        p1, grams1 = _predictability(keys, 1)
        p2, _ = _predictability(keys, 2)
        top_next: dict[Hashable, tuple[Hashable, int]] = {}
        for (a, b), c in grams1.items():
            if c > top_next.get(a, (None, 0))[1]:
                top_next[a] = (b, c)
        sd = stack_distances(keys)
        reused = sd[sd >= 0]
        reuse_time_sum: dict[Hashable, int] = {}
        reuse_time_n: Counter[Hashable] = Counter()
        last: dict[Hashable, int] = {}
        for i, k in enumerate(keys):
            j = last.get(k)
            if j is not None:
                reuse_time_sum[k] = reuse_time_sum.get(k, 0) + (i - j)
                reuse_time_n[k] += 1
            last[k] = i
        rows = []
        for k, c in counts.most_common():
            nxt, nc = top_next.get(k, (None, 0))
            out_deg = c - (1 if keys and keys[-1] == k else 0)
            rows.append((
                k, c, c / n, nxt, nc / out_deg if out_deg else float("nan"),
                reuse_time_sum[k] / reuse_time_n[k] if reuse_time_n[k] else float("nan"),
            ))
        frame = pd.DataFrame.from_records(rows, columns=list(REPORT_COLUMNS))
        summary = {
            "accesses": float(n),
            "distinct": float(len(counts)),
            "working_set": float(len(counts)),
            "reuse_share": float(len(reused) / n) if n else float("nan"),
            "median_stack_distance": float(np.median(reused)) if len(reused) else float("nan"),
            "p90_stack_distance": float(np.percentile(reused, 90)) if len(reused) else float("nan"),
            "top10_share": float(sum(c for _, c in counts.most_common(10)) / n) if n else float("nan"),
            "order1_predictability": p1,
            "order2_predictability": p2,
            "prediction_checked": float(predictions_checked),
            "prediction_score": (predictions_right / predictions_checked) if predictions_checked
            else float("nan"),
        }
        if self._log.enabled:
            import json

            figures = {k: (None if v != v else round(v, 6)) for k, v in summary.items()}
            self._log.record(now, "learning_cycle", "Pattern_Analyzer", "Analyze recent patterns", "ok",
                             detail=json.dumps(figures))
        return AnalysisReport(time=now, frame=frame, summary=summary, inputs=dict(inputs or {}))
