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

Cost: keys are integer-coded once (``pandas.factorize``); counts are ``np.bincount``; order-m
transitions are pair codes ``ctx * K + next`` counted with ``np.unique`` and reduced per context;
reuse times come from one stable argsort; only the stack-distance tree walk is a compiled loop
(:mod:`supreme.adaptive._fast`).  A 4096-access window costs a few milliseconds, not ~30 ms.

The report is *lazy*: :meth:`PatternAnalyzer.analyze` keeps the window and computes ``frame`` and
``summary`` on their first read (at once when the event log is on, which records the summary).  The
adapter only reads the report's ``inputs``, so a learning cycle nobody inspects pays nothing here.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from supreme.adaptive._fast import stack_distances_codes
from supreme.events import NULL_LOG, EventLog

__all__ = ["AnalysisReport", "PatternAnalyzer", "stack_distances"]

REPORT_COLUMNS = ("key", "count", "frequency", "top_next", "top_next_share", "mean_reuse_time")


class AnalysisReport:
    """One learning cycle's analysis: ``frame`` per key, ``summary`` figures, extra ``inputs``.

    Built either from a finished ``frame`` and ``summary`` or from ``compute``, a callable returning
    both, run on the first read of either (and then dropped).
    """

    __slots__ = ("_compute", "_frame", "_summary", "inputs", "time")

    def __init__(self, time: float, frame: pd.DataFrame | None = None,
                 summary: dict[str, float] | None = None, inputs: dict[str, Any] | None = None, *,
                 compute: Callable[[], tuple[pd.DataFrame, dict[str, float]]] | None = None) -> None:
        if compute is None and (frame is None or summary is None):
            raise ValueError("AnalysisReport needs frame and summary, or compute")
        self.time = time
        self._frame = frame
        self._summary = summary
        self._compute = compute
        self.inputs: dict[str, Any] = dict(inputs) if inputs is not None else {}

    def _materialise(self) -> None:
        if self._compute is not None:
            self._frame, self._summary = self._compute()
            self._compute = None

    @property
    def frame(self) -> pd.DataFrame:
        """Per key: count, frequency, most frequent successor and its share, mean reuse time."""
        self._materialise()
        assert self._frame is not None
        return self._frame

    @property
    def summary(self) -> dict[str, float]:
        """Window figures: accesses, distinct keys, reuse, stack distances, predictability, scores."""
        self._materialise()
        assert self._summary is not None
        return self._summary

    def __repr__(self) -> str:
        state = "pending" if self._compute is not None else f"{len(self.frame)} keys"
        return f"AnalysisReport(time={self.time!r}, {state}, inputs={len(self.inputs)})"


def _codes(keys: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (in order of first appearance) and the distinct keys."""
    arr = np.empty(len(keys), dtype=object)
    arr[:] = list(keys)
    codes, uniques = pd.factorize(arr, sort=False)
    return codes.astype(np.int64, copy=False), np.asarray(uniques, dtype=object)


def stack_distances(keys: Sequence[Hashable]) -> np.ndarray:
    """LRU stack distance of each access (-1 for a first use): distinct keys since its last use."""
    if not len(keys):
        return np.zeros(0, dtype=np.int64)
    codes, uniques = _codes(keys)
    return stack_distances_codes(codes, len(uniques))


def _group_max(ctx: np.ndarray, nxt: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each distinct context: (context, its most frequent successor, that successor's count).

    Ties go to the successor seen first in the window (the smallest code).
    """
    pair = ctx * k + nxt
    upair, counts = np.unique(pair, return_counts=True)
    pctx, psucc = upair // k, upair % k
    order = np.lexsort((psucc, -counts, pctx))  # per context: highest count first, then first-seen
    pctx, psucc, counts = pctx[order], psucc[order], counts[order]
    first = np.ones(len(pctx), dtype=bool)
    first[1:] = pctx[1:] != pctx[:-1]
    return pctx[first], psucc[first], counts[first]


def _predictability(codes: np.ndarray, k: int, order: int) -> float:
    """Share of accesses guessed by the most frequent successor of their order-m context."""
    n = len(codes)
    if n <= order:
        return float("nan")
    ctx = codes[: n - order]
    for m in range(1, order):  # fold longer contexts into one dense code (no overflow: codes < n)
        ctx, _ = pd.factorize(ctx * k + codes[m: n - order + m])
        ctx = ctx.astype(np.int64, copy=False)
    _, _, best = _group_max(ctx, codes[order:], k)
    return float(best.sum()) / (n - order)


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
        """Analyse ``keys`` (oldest first); prediction counts come from the layer's online scoring.

        The figures are computed on the report's first read of ``frame`` or ``summary`` (at once
        when the event log is on).
        """
        window = list(keys)

        def compute() -> tuple[pd.DataFrame, dict[str, float]]:
            return self._compute(window, predictions_checked, predictions_right)

        report = AnalysisReport(now, inputs=inputs, compute=compute)
        if self._log.enabled:
            import json

            figures = {k: (None if v != v else round(v, 6)) for k, v in report.summary.items()}
            self._log.record(now, "learning_cycle", "Pattern_Analyzer", "Analyze recent patterns", "ok",
                             detail=json.dumps(figures))
        return report

    @staticmethod
    def _compute(keys: list[Hashable], predictions_checked: int,
                 predictions_right: int) -> tuple[pd.DataFrame, dict[str, float]]:
        n = len(keys)
        codes, uniques = _codes(keys) if n else (np.zeros(0, np.int64), np.zeros(0, dtype=object))
        k = len(uniques)
        counts = np.bincount(codes, minlength=k)
        p1 = _predictability(codes, k, 1)
        p2 = _predictability(codes, k, 2)
        top_code = np.full(k, -1, dtype=np.int64)
        top_count = np.zeros(k, dtype=np.int64)
        if n > 1:
            ctx, succ, cnt = _group_max(codes[:-1], codes[1:], k)
            top_code[ctx], top_count[ctx] = succ, cnt
        sd = stack_distances_codes(codes, k) if n else np.zeros(0, np.int64)
        reused = sd[sd >= 0]
        # reuse time: gap to the previous use of the same key (stable sort keeps time order per key)
        by_key = np.argsort(codes, kind="stable")
        sc = codes[by_key]
        same = sc[1:] == sc[:-1]
        gaps = (by_key[1:] - by_key[:-1])[same]
        reuse_n = np.bincount(sc[1:][same], minlength=k)
        reuse_sum = np.bincount(sc[1:][same], weights=gaps, minlength=k)
        rank = np.lexsort((np.arange(k), -counts))  # Counter.most_common order: count, then first seen
        out_deg = counts.astype(float)
        if n:
            out_deg[codes[-1]] -= 1
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(out_deg > 0, top_count / out_deg, np.nan)
            mean_reuse = np.where(reuse_n > 0, reuse_sum / np.maximum(reuse_n, 1), np.nan)
        top_next = np.full(k, None, dtype=object)
        has = top_code >= 0
        top_next[has] = uniques[top_code[has]]
        frame = pd.DataFrame({
            "key": uniques[rank], "count": counts[rank], "frequency": counts[rank] / max(n, 1),
            "top_next": top_next[rank], "top_next_share": share[rank], "mean_reuse_time": mean_reuse[rank],
        }, columns=list(REPORT_COLUMNS))
        top10 = np.sort(counts)[::-1][:10].sum()
        summary = {
            "accesses": float(n),
            "distinct": float(k),
            "working_set": float(k),
            "reuse_share": float(len(reused) / n) if n else float("nan"),
            "median_stack_distance": float(np.median(reused)) if len(reused) else float("nan"),
            "p90_stack_distance": float(np.percentile(reused, 90)) if len(reused) else float("nan"),
            "top10_share": float(top10 / n) if n else float("nan"),
            "order1_predictability": p1,
            "order2_predictability": p2,
            "prediction_checked": float(predictions_checked),
            "prediction_score": (predictions_right / predictions_checked) if predictions_checked
            else float("nan"),
        }
        return frame, summary
