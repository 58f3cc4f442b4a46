"""The Kubernetes HorizontalPodAutoscaler decision, as a pure state machine (no SimPy, no I/O).

Follows ``pkg/controller/podautoscaler`` (replica_calculator.go, horizontal.go)
for a CPU-utilisation metric with the default behaviour:

    ratio = utilisation_of_ready_pods / target
    if no unready pods, or ratio < 1:          # unready pods are ignored when scaling down
        rec = current if |1 - ratio| <= tolerance else ceil(ratio * ready)
    else:                                       # scaling up: unready pods count as 0 % usage
        r2 = utilisation * ready / (target * (ready + unready))
        rec = current if |1 - r2| <= tolerance or r2 < 1 else ceil(r2 * (ready + unready))
    keep (now, rec); down = max(rec over the last 300 s); up = rec        # stabilisation
    desired = rec if rec > current else min(current, down)
    scale-up limit per 15 s: max(start * 2, start + 4), start = current - pods added in the period
    clamp to [min_replicas, max_replicas]

Departures: one metric only; no missing-pod handling (every ready pod reports);
scale-down policy (100 % per 15 s) never binds, so it is not modelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["HPA", "HPADecision"]


@dataclass(frozen=True)
class HPADecision:
    """One sync: the raw recommendation and the replicas the HPA sets."""

    time: float
    utilization: float
    ratio: float
    recommendation: int
    desired: int
    current: int


@dataclass
class HPA:
    """Replica recommendations over time, with k8s default behaviour parameters."""

    target: float = 0.5
    min_replicas: int = 1
    max_replicas: int = 10
    tolerance: float = 0.1
    downscale_window: float = 300.0
    scale_up_pods: int = 4
    scale_up_percent: float = 100.0
    scale_up_period: float = 15.0
    _recs: list[tuple[float, int]] = field(default_factory=list)
    _ups: list[tuple[float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (self.target > 0 and 1 <= self.min_replicas <= self.max_replicas and self.tolerance >= 0):
            raise ValueError(
                f"HPA needs target > 0, 1 <= min_replicas <= max_replicas, tolerance >= 0; got "
                f"target={self.target}, min={self.min_replicas}, max={self.max_replicas}, "
                f"tolerance={self.tolerance}"
            )

    def recommend(self, utilization: float, ready: int, unready: int, current: int) -> tuple[float, int]:
        """The replica calculator: ``(usage ratio, raw recommendation)``."""
        if ready <= 0:
            return 1.0, current
        ratio = utilization / self.target
        if unready == 0 or ratio <= 1.0:
            if abs(1.0 - ratio) <= self.tolerance:
                return ratio, current
            return ratio, math.ceil(ratio * ready - 1e-9)
        total = ready + unready
        ratio2 = utilization * ready / (self.target * total)
        if abs(1.0 - ratio2) <= self.tolerance or ratio2 < 1.0:
            return ratio, current
        rec = math.ceil(ratio2 * total - 1e-9)
        return ratio, max(rec, current)

    def decide(self, now: float, utilization: float, ready: int, unready: int, current: int) -> HPADecision:
        """One sync period: recommend, stabilise, rate-limit, clamp."""
        ratio, rec = self.recommend(utilization, ready, unready, current)
        self._recs.append((now, rec))
        cutoff = now - self.downscale_window
        self._recs = [(t, r) for t, r in self._recs if t > cutoff]
        down = max(r for _, r in self._recs)
        if rec > current:
            desired = rec
        elif current > down:
            desired = down
        else:
            desired = current
        self._ups = [(t, n) for t, n in self._ups if t + self.scale_up_period > now]
        start = current - sum(n for _, n in self._ups)
        up_limit = max(math.ceil(start * (1 + self.scale_up_percent / 100.0)), start + self.scale_up_pods)
        desired = min(desired, up_limit, self.max_replicas)
        desired = max(desired, self.min_replicas)
        if desired > current:
            self._ups.append((now, desired - current))
        return HPADecision(now, utilization, ratio, rec, desired, current)
