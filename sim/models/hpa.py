"""The Kubernetes autoscaling/v2 HorizontalPodAutoscaler decision, as a pure state machine (no SimPy, no I/O).

Follows ``pkg/controller/podautoscaler`` (replica_calculator.go, horizontal.go) with a ``behavior``
block, for metrics averaged over pods (Resource ``Utilization`` and Pods ``AverageValue``)::

    per metric (calcPlainMetricReplicas; unready = pods not yet ready, they report no usage):
        ratio = average over ready pods / target
        if not (unready and ratio > 1):         # unready pods are ignored unless scaling up
            rec = current if |1 - ratio| <= tolerance else ceil(ratio * ready)
        else:                                    # scaling up: unready pods count as 0 usage
            r2 = ratio * ready / (ready + unready)
            rec = current if |1 - r2| <= tolerance or r2 < 1 else max(current, ceil(r2 * (ready + unready)))
    rec = max over metrics
    stabilisation: up = min(recs of the last scaleUp window, rec), down = max(recs of the last scaleDown
                   window, rec); stabilised = clamp(current, up, down); rec is then stored
    rate limit: start = current - added + deleted within each policy's periodSeconds;
        scale-up limit per policy: Pods start + value, Percent ceil(start * (1 + value/100));
        scale-down limit: Pods start - value, Percent int(start * (1 - value/100));
        selectPolicy Max takes the largest change, Min the smallest, Disabled forbids the direction
    desired = min(stabilised, max_replicas, up limit) or max(stabilised, min_replicas, down limit)
    (current > max_replicas or current < min_replicas: desired is the bound, metrics unused)

Departures: no missing-pod handling (every ready pod reports); the tolerance is one value for
both directions unless a rule carries its own (the 1.33+ ``tolerance`` field); every scale
request takes effect at once (``current`` is the spec's replica count).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["DEFAULT_SCALE_DOWN", "DEFAULT_SCALE_UP", "HPA", "HPADecision", "ScalingPolicy", "ScalingRules"]

SELECT_POLICIES = ("Max", "Min", "Disabled")


@dataclass(frozen=True)
class ScalingPolicy:
    """One HPAScalingPolicy: ``type`` Pods or Percent, ``value``, ``period_seconds``."""

    type: str
    value: int
    period_seconds: float

    def __post_init__(self) -> None:
        if self.type not in ("Pods", "Percent") or self.value <= 0 or self.period_seconds <= 0:
            raise ValueError(
                f"scaling policy needs type Pods/Percent, value > 0, periodSeconds > 0; got {self}"
            )


@dataclass(frozen=True)
class ScalingRules:
    """One direction of ``spec.behavior``: stabilisation window, policies, selectPolicy."""

    stabilization_window: float
    policies: tuple[ScalingPolicy, ...]
    select_policy: str = "Max"
    tolerance: float | None = None

    def __post_init__(self) -> None:
        if self.select_policy not in SELECT_POLICIES or self.stabilization_window < 0:
            raise ValueError(f"selectPolicy must be one of {SELECT_POLICIES} and the window >= 0; got {self}")
        if not self.policies and self.select_policy != "Disabled":
            raise ValueError("scaling rules need at least one policy unless selectPolicy is Disabled")


#: Kubernetes defaults when ``behavior`` (or one direction of it) is left out.
DEFAULT_SCALE_UP = ScalingRules(0.0, (ScalingPolicy("Pods", 4, 15.0), ScalingPolicy("Percent", 100, 15.0)))
DEFAULT_SCALE_DOWN = ScalingRules(300.0, (ScalingPolicy("Percent", 100, 15.0),))


@dataclass(frozen=True)
class HPADecision:
    """One sync: each metric's usage ratio, the raw and stabilised recommendations, the replicas set."""

    time: float
    ratios: dict[str, float]
    recommendation: int
    stabilized: int
    desired: int
    current: int


@dataclass
class HPA:
    """Replica decisions over time for one HorizontalPodAutoscaler."""

    min_replicas: int = 1
    max_replicas: int = 10
    tolerance: float = 0.1
    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN
    _recs: list[tuple[float, int]] = field(default_factory=list)
    _ups: list[tuple[float, int]] = field(default_factory=list)
    _downs: list[tuple[float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (1 <= self.min_replicas <= self.max_replicas and self.tolerance >= 0):
            raise ValueError(
                f"HPA needs 1 <= min_replicas <= max_replicas and tolerance >= 0; got "
                f"min={self.min_replicas}, max={self.max_replicas}, tolerance={self.tolerance}"
            )

    def recommend(
        self,
        value: float,
        target: float,
        ready: int,
        unready: int,
        current: int,
        tolerance: float | None = None,
    ) -> tuple[float, int]:
        """The replica calculator for one metric averaged over ready pods: ``(usage ratio, replicas)``."""
        if ready <= 0 or target <= 0:
            return 1.0, current
        tol = self.tolerance if tolerance is None else tolerance
        ratio = value / target
        if not (unready > 0 and ratio > 1.0):
            if abs(1.0 - ratio) <= tol:
                return ratio, current
            return ratio, math.ceil(ratio * ready - 1e-9)
        total = ready + unready
        ratio2 = ratio * ready / total
        if abs(1.0 - ratio2) <= tol or ratio2 < 1.0:
            return ratio, current
        return ratio, max(current, math.ceil(ratio2 * total - 1e-9))

    def _tolerance_for(self, ratio: float) -> float:
        rules = self.scale_up if ratio > 1.0 else self.scale_down
        return self.tolerance if rules.tolerance is None else rules.tolerance

    def _stabilize(self, now: float, rec: int, current: int) -> int:
        up_cut, down_cut = (
            now - self.scale_up.stabilization_window,
            now - self.scale_down.stabilization_window,
        )
        up = min([r for t, r in self._recs if t > up_cut], default=rec)
        down = max([r for t, r in self._recs if t > down_cut], default=rec)
        up, down = min(up, rec), max(down, rec)
        self._recs = [(t, r) for t, r in self._recs if t > min(up_cut, down_cut)]
        self._recs.append((now, rec))
        return min(max(current, up), down)

    @staticmethod
    def _changed(events: list[tuple[float, int]], now: float, period: float) -> int:
        return sum(n for t, n in events if t > now - period)

    def _limit(self, now: float, current: int, rules: ScalingRules, up: bool) -> int:
        """The furthest the rules let the replicas move from ``current`` now (calculate*Limit*)."""
        if rules.select_policy == "Disabled":
            return current
        proposals = []
        for p in rules.policies:
            start = (
                current
                - self._changed(self._ups, now, p.period_seconds)
                + self._changed(self._downs, now, p.period_seconds)
            )
            if up:
                proposals.append(
                    start + p.value if p.type == "Pods" else math.ceil(start * (1 + p.value / 100.0) - 1e-9)
                )
            else:
                proposals.append(
                    start - p.value if p.type == "Pods" else int(start * (1 - p.value / 100.0) + 1e-9)
                )
        largest_change = max if up else min
        smallest_change = min if up else max
        return (largest_change if rules.select_policy == "Max" else smallest_change)(proposals)

    def decide(
        self, now: float, metrics: Sequence[tuple[str, float, float]], ready: int, unready: int, current: int
    ) -> HPADecision:
        """One sync period: ``metrics`` are ``(name, average over ready pods, target)``."""
        ratios: dict[str, float] = {}
        if current > self.max_replicas or current < self.min_replicas:
            rec = stabilized = desired = min(max(current, self.min_replicas), self.max_replicas)
        else:
            recs = []
            for name, value, target in metrics:
                raw = value / target if target > 0 else 1.0
                ratios[name], r = self.recommend(
                    value, target, ready, unready, current, self._tolerance_for(raw)
                )
                recs.append(r)
            rec = max(recs, default=current)
            stabilized = self._stabilize(now, rec, current)
            desired = stabilized
            if stabilized > current:
                desired = min(
                    stabilized,
                    self.max_replicas,
                    max(current, self._limit(now, current, self.scale_up, True)),
                )
            elif stabilized < current:
                desired = max(
                    stabilized,
                    self.min_replicas,
                    min(current, self._limit(now, current, self.scale_down, False)),
                )
        if desired > current:
            self._ups.append((now, desired - current))
        elif desired < current:
            self._downs.append((now, current - desired))
        horizon = max(
            [p.period_seconds for p in (*self.scale_up.policies, *self.scale_down.policies)], default=0.0
        )
        self._ups = [(t, n) for t, n in self._ups if t > now - horizon]
        self._downs = [(t, n) for t, n in self._downs if t > now - horizon]
        return HPADecision(now, ratios, rec, stabilized, desired, current)
