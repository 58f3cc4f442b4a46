"""What every model needs: env, SimClock, seeded RNG, event log, latency book, faults.

A model builds one :class:`SimContext` from its (validated) scenario, runs its
SimPy processes on ``ctx.env`` and returns ``ctx.frame()``: the shared
event-log DataFrame (world ``"sim"``) with the full scenario in ``attrs``.
Request ids come from a per-run counter, and the run id from the scenario's
hash, so the same scenario always yields an identical log.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import simpy

from sim.book import load_book, resolve_book
from sim.clock import SimClock
from sim.latency import LatencyBook
from supreme.events import FLOWS, EventLog
from supreme.resilience.fault_schedule import FaultSchedule

__all__ = ["SimContext", "count_steps", "scenario_id"]


def scenario_id(scenario: Mapping[str, Any]) -> str:
    """Short stable hash of a scenario (key order does not matter)."""
    blob = json.dumps(dict(sorted(scenario.items())), sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def count_steps(log: pd.DataFrame, component: str, operation: str, outcome: str | None = None) -> int:
    """How many rows of ``log`` are ``component.operation`` (with ``outcome``, when given)."""
    mask = (log["component"] == component) & (log["operation"] == operation)
    if outcome is not None:
        mask &= log["outcome"] == outcome
    return int(mask.sum())


class SimContext:
    """Shared state of one simulation run."""

    def __init__(self, model: str, flow: str, scenario: Mapping[str, Any]) -> None:
        if flow not in FLOWS:
            raise ValueError(f"flow {flow!r} is not one of supreme.events.FLOWS")
        self.model = model
        self.flow = flow
        self.scenario = dict(scenario)
        self.seed = int(scenario["seed"])
        self.env = simpy.Environment()
        self.clock = SimClock(self.env)
        self.rng = np.random.default_rng(self.seed)
        run_id = f"{model}-s{self.seed}-{scenario_id(self.scenario)}"
        self.log = EventLog(run_id=run_id, world="sim", enabled=bool(scenario.get("log.enabled", True)))
        self.book = LatencyBook.defaults()
        book_path = resolve_book(scenario.get("latency.book"))
        if book_path is not None:  # a calibrated book (its shared models and this model's section)
            self.book.update(load_book(book_path, model))
        self.faults = FaultSchedule.from_scenario(self.scenario)
        self._ids = itertools.count(1)

    def request_id(self) -> str:
        """Next request id of this run (``r1``, ``r2``…)."""
        return f"r{next(self._ids)}"

    def step(
        self,
        component: str,
        operation: str,
        outcome: str = "ok",
        *,
        frm: str | None = None,
        time: float | None = None,
        request_id: str | None = None,
        key: str | None = None,
        latency: float = 0.0,
        tier: str | None = None,
        nbytes: int = 0,
        **detail: Any,
    ) -> None:
        """Record one diagram step; ``frm`` is the arrow's sender, extra keywords go to ``detail``."""
        if not self.log.enabled:
            return
        info = {"from": frm, **detail} if frm else detail
        self.log.record(
            self.env.now if time is None else time, self.flow, component, operation, outcome,
            request_id=request_id, key=key, latency=latency, tier=tier, nbytes=nbytes,
            detail=json.dumps(info, sort_keys=True, default=_jsonable) if info else None,
        )

    def cost(self, key: str, component: str | None = None) -> float:
        """A latency for ``key`` drawn from the book, times the component's slow-fault multiplier."""
        base = self.book.sample(key, self.rng)
        if component is None:
            return base
        return base * self.faults.state(component, self.env.now).latency_multiplier

    def frame(self) -> pd.DataFrame:
        """The event log as a DataFrame carrying the scenario in ``attrs``."""
        df = self.log.to_frame()
        df.attrs["scenario"] = dict(self.scenario)
        df.attrs["model"] = self.model
        return df


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    return str(obj)
