"""What became of the prefetches: the engine's counters and the ratios derived from them.

Metrics (Srinivasan et al.'s taxonomy, "A Prefetch Taxonomy", IEEE ToC 2004, simplified):

* accuracy   = used / issued           (prefetched entries demanded before eviction)
* coverage   = timely / (demand misses + timely)   (fraction of would-be misses avoided)
* timeliness = timely / used           (in trace simulation prefetches are instantaneous unless a
  latency model is given, so this is 1.0 there)
* wasted, wasted_bytes                 (evicted, or found gone, before any use)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["PrefetchStats"]


@dataclass
class PrefetchStats:
    """Counters of the prefetch engine (cumulative, or for one learning-cycle window)."""

    issued: int = 0
    timely: int = 0
    late: int = 0
    wasted: int = 0
    early: int = 0  # of ``wasted``: evicted before a demand for it did come (right guess, area too small)
    wasted_bytes: int = 0
    fetched_bytes: int = 0
    demand_misses: int = 0
    demand_accesses: int = 0
    skipped_cached: int = 0
    skipped_budget: int = 0
    errors: int = 0

    @property
    def used(self) -> int:
        """Prefetched entries that a demand access asked for (timely or late)."""
        return self.timely + self.late

    @property
    def accuracy(self) -> float:
        """used / issued (NaN before any prefetch)."""
        return self.used / self.issued if self.issued else float("nan")

    @property
    def prediction_accuracy(self) -> float:
        """(used + early) / issued: how often the guess was right, whether or not the entry lasted."""
        return (self.used + self.early) / self.issued if self.issued else float("nan")

    @property
    def coverage(self) -> float:
        """Demand misses avoided / (demand misses + avoided)."""
        total = self.demand_misses + self.timely
        return self.timely / total if total else float("nan")

    @property
    def timeliness(self) -> float:
        """timely / used."""
        return self.timely / self.used if self.used else float("nan")

    def as_dict(self) -> dict[str, float]:
        """All counters plus the derived ratios."""
        out: dict[str, float] = dict(asdict(self))
        out.update(used=self.used, accuracy=self.accuracy, prediction_accuracy=self.prediction_accuracy,
                   coverage=self.coverage, timeliness=self.timeliness)
        return out
