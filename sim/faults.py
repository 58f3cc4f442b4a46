"""Fault schedules: which component is down, slow or erroring, and when.

A :class:`FaultSchedule` is a list of :class:`FaultWindow` s.  ``state(component,
now)`` folds every window covering ``now``: down if any window is ``down``,
latency multipliers multiply, error probabilities combine as independent
causes (``1 - prod(1 - p)``).

In a scenario, faults are dotted keys ``faults.<component>.<field>``::

    faults.redis.down_at = 30      faults.redis.down_for = 10
    faults.db.slow_at = 5          faults.db.slow_for = 20      faults.db.slow_factor = 4
    faults.db.error_at = 0         faults.db.error_for = 60     faults.db.error_rate = 0.1

A window with no ``*_for`` lasts to the end of the run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.errors import SimError

__all__ = ["FAULT_FIELDS", "FaultError", "FaultSchedule", "FaultState", "FaultWindow"]

KINDS = ("down", "slow", "error")

#: Fields accepted under ``faults.<component>.`` in a scenario, with their defaults.
FAULT_FIELDS: dict[str, Any] = {
    "down_at": None, "down_for": None,
    "slow_at": None, "slow_for": None, "slow_factor": 1.0,
    "error_at": None, "error_for": None, "error_rate": 0.0,
}


class FaultError(SimError, ValueError):
    """A fault window or fault key is malformed."""


@dataclass(frozen=True)
class FaultState:
    """What a component suffers at one instant."""

    up: bool = True
    latency_multiplier: float = 1.0
    error_probability: float = 0.0


HEALTHY = FaultState()


@dataclass(frozen=True)
class FaultWindow:
    """One fault on one component over ``[start, end)``."""

    component: str
    kind: str
    start: float
    end: float = math.inf
    factor: float = 1.0
    rate: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise FaultError(f"fault kind must be one of {KINDS}, got {self.kind!r} ({self.component})")
        if not (self.start >= 0 and self.end > self.start):
            raise FaultError(f"fault window on {self.component!r} needs 0 <= start < end, got "
                             f"[{self.start}, {self.end})")
        if self.kind == "slow" and not self.factor > 0:
            raise FaultError(f"slow_factor for {self.component!r} must be > 0, got {self.factor}")
        if self.kind == "error" and not 0.0 <= self.rate <= 1.0:
            raise FaultError(f"error_rate for {self.component!r} must be in [0, 1], got {self.rate}")

    def covers(self, now: float) -> bool:
        """Whether the window is active at ``now``."""
        return self.start <= now < self.end


class FaultSchedule:
    """All fault windows of a run."""

    def __init__(self, windows: list[FaultWindow] | None = None) -> None:
        self.windows: list[FaultWindow] = list(windows or [])
        self._by_component: dict[str, list[FaultWindow]] = {}
        for w in self.windows:
            self._by_component.setdefault(w.component, []).append(w)

    def state(self, component: str, now: float) -> FaultState:
        """The combined fault state of ``component`` at ``now``."""
        windows = self._by_component.get(component)
        if not windows:
            return HEALTHY
        up, mult, ok_prob = True, 1.0, 1.0
        active = False
        for w in windows:
            if not w.covers(now):
                continue
            active = True
            if w.kind == "down":
                up = False
            elif w.kind == "slow":
                mult *= w.factor
            else:
                ok_prob *= 1.0 - w.rate
        return FaultState(up, mult, 1.0 - ok_prob) if active else HEALTHY

    def fails(self, component: str, now: float, rng: np.random.Generator) -> bool:
        """Draw whether one call to ``component`` at ``now`` fails (down, or an error draw)."""
        st = self.state(component, now)
        if not st.up:
            return True
        return st.error_probability > 0 and bool(rng.random() < st.error_probability)

    @classmethod
    def from_scenario(cls, scenario: Mapping[str, Any]) -> FaultSchedule:
        """Windows from the ``faults.<component>.<field>`` keys of a scenario."""
        fields: dict[str, dict[str, Any]] = {}
        for key, value in scenario.items():
            if not key.startswith("faults."):
                continue
            parts = key.split(".")
            if len(parts) != 3 or parts[2] not in FAULT_FIELDS:
                raise FaultError(f"fault key {key!r} must be faults.<component>.<field> with field in "
                                 f"{sorted(FAULT_FIELDS)}")
            fields.setdefault(parts[1], {})[parts[2]] = value
        windows = []
        for comp, f in sorted(fields.items()):
            for kind in KINDS:
                at = f.get(f"{kind}_at")
                if at is None:
                    continue
                dur = f.get(f"{kind}_for")
                end = math.inf if dur is None else float(at) + float(dur)
                windows.append(FaultWindow(
                    comp, kind, float(at), end,
                    factor=float(f.get("slow_factor", 1.0)), rate=float(f.get("error_rate", 0.0)),
                ))
        return cls(windows)

    def __repr__(self) -> str:
        return f"FaultSchedule({self.windows!r})"
