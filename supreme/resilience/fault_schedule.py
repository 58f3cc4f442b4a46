"""Fault windows: which target is down, slow or erroring, and when — one vocabulary for every fault tool.

The real fault tools (:mod:`.chaos`, the ``supreme faults`` CLI, the exchange connector wrapper
:mod:`supreme.market.faulty_connector`) and the simulation (:mod:`sim.models`) all describe faults as
:class:`FaultWindow` s in a :class:`FaultSchedule`.  In a scenario, faults are dotted keys
``faults.<target>.<field>``::

    faults.redis.down_at = 30      faults.redis.down_for = 10
    faults.db.slow_at = 5          faults.db.slow_for = 20      faults.db.slow_factor = 4
    faults.pg.slow_at = 5          faults.pg.slow_latency = 0.2 (seconds a proxy adds per chunk)
    faults.db.error_at = 0         faults.db.error_for = 60     faults.db.error_rate = 0.1

A window with no ``<kind>_for`` lasts to the end of the run; a ``<kind>_*`` field without its
``<kind>_at`` is an error (a ``<kind>_at`` of ``None`` switches that window off).

A schedule is used in two ways:

* asked — :meth:`FaultSchedule.state` folds every window covering an instant: down if any window is
  ``down``, latency multipliers multiply, error probabilities combine as independent causes
  (``1 - prod(1 - p)``); :meth:`FaultSchedule.fails` draws whether one call fails (the simulation);
* driven — :meth:`FaultSchedule.bind` switches per target, then :meth:`FaultSchedule.apply` on the
  schedule's clock turns them on and off as windows open and close, logging ``inject`` / ``restore``
  (the Chaos_Engine against real servers; the windows' ``start`` are clock times).

Exceptions::

    SupremeError
    └── FaultError    (also ValueError) a malformed window or fault key, or a fault request that
                      could touch connections that are not ours
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from supreme.clock import Clock
from supreme.errors import SupremeError
from supreme.events import NULL_LOG, EventLog

if TYPE_CHECKING:
    import numpy as np

    from supreme.resilience.proxy import TcpProxy

__all__ = ["FAULT_FIELDS", "KINDS", "FaultError", "FaultSchedule", "FaultState", "FaultWindow"]

FLOW = "fault_injection"
KINDS = ("down", "slow", "error")

#: Fields accepted under ``faults.<target>.`` in a scenario, with their defaults.
FAULT_FIELDS: dict[str, Any] = {
    "down_at": None, "down_for": None,
    "slow_at": None, "slow_for": None, "slow_factor": 1.0, "slow_latency": 0.0,
    "error_at": None, "error_for": None, "error_rate": 0.0,
}


class FaultError(SupremeError, ValueError):
    """A malformed fault window or key, or a fault request that could hit connections not ours."""


@dataclass(frozen=True)
class FaultState:
    """What a target suffers at one instant."""

    up: bool = True
    latency_multiplier: float = 1.0
    error_probability: float = 0.0


HEALTHY = FaultState()


@dataclass(frozen=True)
class FaultWindow:
    """``target`` suffers ``kind`` over ``[start, start + duration)`` of clock time.

    ``factor`` multiplies a slow target's latency (the simulation), ``latency`` is the seconds a
    proxy adds per forwarded chunk in a slow window (real runs), ``rate`` is an error window's
    failure probability per call.
    """

    target: str
    start: float
    duration: float = math.inf
    kind: str = "down"
    factor: float = 1.0
    rate: float = 0.0
    latency: float = 0.0
    end: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "end", self.start + self.duration)
        if self.kind not in KINDS:
            raise FaultError(f"fault kind must be one of {KINDS}, got {self.kind!r} ({self.target})")
        if not (self.start >= 0 and self.end > self.start):
            raise FaultError(f"fault window on {self.target!r} needs start >= 0 and duration > 0, got "
                             f"start={self.start} duration={self.duration}")
        if self.kind == "slow" and not (self.factor > 0 and self.latency >= 0):
            raise FaultError(f"slow window on {self.target!r} needs slow_factor > 0 and slow_latency >= 0, "
                             f"got {self.factor} and {self.latency}")
        if self.kind == "error" and not 0.0 <= self.rate <= 1.0:
            raise FaultError(f"error_rate for {self.target!r} must be in [0, 1], got {self.rate}")

    @classmethod
    def between(cls, target: str, start: float, end: float, kind: str = "down") -> FaultWindow:
        """The window ``[start, end)``, keeping ``end`` exactly as given."""
        w = cls(target, start, end - start, kind)
        object.__setattr__(w, "end", end)
        return w

    def covers(self, now: float) -> bool:
        """Whether the window is active at ``now``."""
        return self.start <= now < self.end


Switch = Callable[[FaultWindow], Any]


class FaultSchedule:
    """Fault windows over time; asked with :meth:`state` / :meth:`fails`, or driven with :meth:`apply`."""

    def __init__(self, windows: list[FaultWindow] | None = None, *, clock: Clock | None = None,
                 event_log: EventLog = NULL_LOG) -> None:
        self.windows: list[FaultWindow] = []
        self.clock = clock
        self.event_log = event_log
        self._by_target: dict[str, list[FaultWindow]] = {}
        self._switches: dict[str, tuple[Switch, Switch]] = {}
        self._on: dict[FaultWindow, bool] = {}
        for w in windows or []:
            self._index(w)

    @classmethod
    def from_scenario(cls, scenario: Mapping[str, Any], *, clock: Clock | None = None,
                      event_log: EventLog = NULL_LOG, offset: float = 0.0) -> FaultSchedule:
        """Windows from the ``faults.<target>.<field>`` keys of a scenario, starting ``offset`` later."""
        fields: dict[str, dict[str, Any]] = {}
        for key, value in scenario.items():
            if not key.startswith("faults."):
                continue
            parts = key.split(".")
            if len(parts) != 3 or parts[2] not in FAULT_FIELDS:
                raise FaultError(f"fault key {key!r} must be faults.<target>.<field> with field in "
                                 f"{sorted(FAULT_FIELDS)}")
            fields.setdefault(parts[1], {})[parts[2]] = value
        windows = []
        for target, f in sorted(fields.items()):
            for name in f:
                kind = name.split("_", 1)[0]
                if f"{kind}_at" not in f:
                    raise FaultError(f"faults.{target}.{name} needs faults.{target}.{kind}_at")
            for kind in KINDS:
                at = f.get(f"{kind}_at")
                if at is None:
                    continue
                dur = f.get(f"{kind}_for")
                windows.append(FaultWindow(
                    target, offset + float(at), math.inf if dur is None else float(dur), kind,
                    factor=float(f.get("slow_factor", 1.0)), rate=float(f.get("error_rate", 0.0)),
                    latency=float(f.get("slow_latency", 0.0)),
                ))
        return cls(windows, clock=clock, event_log=event_log)

    def add(self, target: str, start: float, duration: float = math.inf, kind: str = "down", *,
            factor: float = 1.0, rate: float = 0.0, latency: float = 0.0) -> FaultWindow:
        """Add a window."""
        w = FaultWindow(target, start, duration, kind, factor=factor, rate=rate, latency=latency)
        self._index(w)
        return w

    def _index(self, w: FaultWindow) -> None:
        self.windows.append(w)
        self._by_target.setdefault(w.target, []).append(w)

    # -- asked: what does a target suffer now? ------------------------------------------------
    def affects(self, target: str) -> bool:
        """Whether any window (past, present or future) names ``target``: hot paths skip the rest if not."""
        return target in self._by_target

    def state(self, target: str, now: float) -> FaultState:
        """The combined fault state of ``target`` at ``now``."""
        windows = self._by_target.get(target)
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

    def fails(self, target: str, now: float, rng: np.random.Generator) -> bool:
        """Draw whether one call to ``target`` at ``now`` fails (down, or an error draw)."""
        st = self.state(target, now)
        if not st.up:
            return True
        return st.error_probability > 0 and bool(rng.random() < st.error_probability)

    # -- driven: switches flipped on the schedule's clock --------------------------------------
    def bind(self, target: str, on_start: Switch, on_end: Switch) -> None:
        """Switches for ``target``'s windows."""
        self._switches[target] = (on_start, on_end)

    def bind_proxy(self, target: str, proxy: TcpProxy) -> None:
        """``slow`` windows add their ``latency`` to the proxy; any other window cuts it."""
        def start(w: FaultWindow) -> None:
            if w.kind == "slow":
                proxy.latency = w.latency
            else:
                proxy.outage()

        self.bind(target, start, lambda w: proxy.restore())

    def _now(self) -> float:
        if self.clock is None:
            raise FaultError("this fault schedule has no clock: pass clock= to drive it")
        return self.clock.now()

    def active(self, t: float | None = None) -> list[FaultWindow]:
        """Windows covering ``t`` (default now)."""
        t = self._now() if t is None else t
        return [w for w in self.windows if w.covers(t)]

    def apply(self) -> list[tuple[str, FaultWindow]]:
        """Start windows that began and end windows that are over; returns ``(start|end, window)``."""
        now = self._now()
        changes: list[tuple[str, FaultWindow]] = []
        for w in self.windows:
            should = w.covers(now)
            if should == self._on.get(w, False):
                continue
            self._on[w] = should
            changes.append(("start" if should else "end", w))
            switch = self._switches.get(w.target)
            if switch is not None:
                switch[0 if should else 1](w)
            self.event_log.record(now, FLOW, "Chaos_Engine", "inject" if should else "restore",
                                  w.kind, key=w.target)
        return changes

    def __repr__(self) -> str:
        return f"FaultSchedule({self.windows!r})"
