"""Notebook 05: a Redis disconnect during a replay — breaker timeline, recovery time, nothing lost.

Real run (:func:`run_real_outage`): the real CacheManager with L1 memory, L2 a :class:`RedisTier`
over fakeredis, L3 a fresh SQLite file, every L2 call guarded by the real
:class:`~supreme.resilience.breaker.CircuitBreaker`.  The fault is the fakeredis server's
``connected`` switch, flipped by the real :class:`supreme.resilience.fault_schedule.FaultSchedule` (the shared
Redis server is never cut: that would disturb other users; ``TcpProxy`` does that for a real Redis in
the resilience tests and benchmark).  Time is a ManualClock stepped by the
load's inter-arrival gaps, so the run is exact and repeatable.  Recovery is the seed's loop: while the
breaker is OPEN, every ``recovery_interval`` s try to reconnect (PING); when it answers, move the
breaker to HALF_OPEN; the next request is the test request that closes it; the manager then replays
the writes it journaled while L2 was away.

Simulated run: :mod:`sim.models.fault_injection` with the same schedule and load.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.runner import get_model, run_model
from supreme.cache import CacheManager, MemoryTier, RedisTier, SqlTier
from supreme.cache.codec import decode_entry
from supreme.clock import ManualClock
from supreme.events import EventLog
from supreme.resilience.breaker import CallNotPermitted, CircuitBreaker
from supreme.resilience.breaker_state import State
from supreme.resilience.fault_schedule import FaultSchedule

__all__ = [
    "SCENARIO", "SHARED_KEYS", "breaker_timeline", "conclusion", "plot_outage", "run_real_outage",
    "run_sim_outage",
]

#: The keys of :mod:`sim.models.fault_injection` the real run reads too (the rest model the sim's I/O).
SHARED_KEYS = (
    "duration", "load.interval", "load.write_fraction", "load.keys", "l1.capacity",
    "faults.redis.down_at", "faults.redis.down_for",
    "breaker.failure_rate_threshold", "breaker.window", "breaker.min_calls", "breaker.wait_open",
    "breaker.half_open_calls", "recovery.interval",
)
#: Shared by both worlds: the simulation model's defaults for those keys, and the seed.
SCENARIO: dict[str, Any] = {**{k: get_model("fault_injection").defaults[k] for k in SHARED_KEYS}, "seed": 0}


def _breaker(sc: dict[str, Any], clock: ManualClock, log: EventLog) -> CircuitBreaker:
    return CircuitBreaker(
        "redis",
        clock=clock,
        event_log=log,
        failure_rate_threshold=float(sc["breaker.failure_rate_threshold"]),
        sliding_window_size=int(sc["breaker.window"]),
        minimum_number_of_calls=int(sc["breaker.min_calls"]),
        wait_duration_in_open=float(sc["breaker.wait_open"]),
        permitted_calls_in_half_open=int(sc["breaker.half_open_calls"]),
    )


class _Reconnect:
    """The seed's recovery loop: while the breaker is OPEN, PING every ``interval`` s; on an answer,
    move the breaker to HALF_OPEN (the next request is its test request)."""

    def __init__(self, l2: RedisTier, breaker: CircuitBreaker, log: EventLog, interval: float) -> None:
        self.l2, self.breaker, self.log, self.interval = l2, breaker, log, interval
        self.next_try: float | None = None

    def step(self, now: float) -> None:
        """Try to reconnect if the breaker is open and a try is due."""
        if self.breaker.state is not State.OPEN:
            self.next_try = None
            return
        self.next_try = now if self.next_try is None else self.next_try
        if now < self.next_try:
            return
        self.next_try = now + self.interval
        try:
            self.l2.ping()
            self.log.record(now, "fault_injection", "Recovery_System", "reconnect", "ok", key="redis")
            self.breaker.transition_to_half_open()
        except ConnectionError as exc:
            self.log.record(now, "fault_injection", "Recovery_System", "reconnect", "error", key="redis",
                            detail=type(exc).__name__)


def run_real_outage(scenario: dict[str, Any] | None = None) -> dict[str, Any]:
    """The real components through a Redis disconnect; the event log and the integrity checks."""
    import fakeredis

    sc = {**SCENARIO, **(scenario or {})}
    clock = ManualClock(0.0)
    log = EventLog(run_id=f"real-outage-s{sc['seed']}", world="real")
    server = fakeredis.FakeServer()
    l2 = RedisTier(fakeredis.FakeRedis(server=server), owns_client=True)
    chaos = FaultSchedule(clock=clock, event_log=log)
    chaos.add("redis", float(sc["faults.redis.down_at"]), float(sc["faults.redis.down_for"]))
    chaos.bind(
        "redis", lambda w: setattr(server, "connected", False), lambda w: setattr(server, "connected", True)
    )
    breaker = _breaker(sc, clock, log)
    with tempfile.TemporaryDirectory(prefix="supreme-outage-") as tmp:
        l3 = SqlTier(f"sqlite:///{Path(tmp) / 'l3.db'}", clock=clock)
        manager = CacheManager(
            MemoryTier("lru", clock=clock, capacity=int(sc["l1.capacity"])),
            l2,
            l3,
            clock=clock,
            event_log=log,
            guards={"L2": breaker.call},
            unavailable_errors=(CallNotPermitted,),
            flow="fault_injection",
        )
        reconnect = _Reconnect(l2, breaker, log, float(sc["recovery.interval"]))

        def faults_then_recovery() -> None:
            chaos.apply()
            reconnect.step(clock.now())

        truth, answered, wrong = _load(sc, manager, clock, faults_then_recovery)
        manager.flush_pending()
        pending = sum(manager.pending().values())
        lost = sum(1 for k, v in truth.items() if (b := l2.get(k)) is None or decode_entry(b)[0] != v)
        frame = log.to_frame()
        manager.close()
    journaled = int(((frame["component"] == "Redis_Cache_L2") & (frame["outcome"] == "journaled")).sum())
    return {
        "log": frame,
        "answered": answered,
        "wrong": wrong,
        "writes": len(truth),
        "lost_in_l2": lost,
        "pending": pending,
        "journaled": journaled,
    }


def _load(
    sc: dict[str, Any], manager: CacheManager, clock: ManualClock, before_each: Callable[[], None]
) -> tuple[dict[str, dict[str, int]], int, int]:
    """The seeded load: Poisson gaps, a write fraction, uniform keys; reads checked against the truth.

    ``before_each()`` runs once the clock reaches each request (faults, then recovery).
    Returns the truth (every key's last written value), the reads answered and the wrong answers.
    """
    rng = np.random.default_rng(int(sc["seed"]))
    n = int(float(sc["duration"]) / float(sc["load.interval"]))
    keys = rng.integers(int(sc["load.keys"]), size=n)
    writes = rng.random(n) < float(sc["load.write_fraction"])
    gaps = rng.exponential(float(sc["load.interval"]), size=n)
    truth: dict[str, dict[str, int]] = {}
    wrong = answered = 0
    for i in range(n):
        clock.advance(float(gaps[i]))
        before_each()
        key = f"sig:{int(keys[i])}"
        if writes[i]:
            value = {"v": i}
            manager.set(key, value)
            truth[key] = value
        else:

            def load(k: str = key) -> dict[str, int]:
                return truth.get(k, {"v": -1})

            got = manager.get(key, loader=load)
            answered += 1
            wrong += int(got != truth.get(key, {"v": -1}))
    return truth, answered, wrong


def run_sim_outage(scenario: dict[str, Any] | None = None) -> pd.DataFrame:
    """The SimPy fault-injection model with the same schedule and load."""
    return run_model("fault_injection", {**SCENARIO, **(scenario or {})})


def breaker_timeline(log: pd.DataFrame) -> pd.DataFrame:
    """The breaker's transitions (time, new state), starting CLOSED at 0."""
    tr = log[(log["component"] == "Circuit_Breaker") & (log["operation"] == "transition")]
    out = pd.DataFrame({"time": [0.0, *tr["time"].round(3)], "state": ["closed", *tr["outcome"]]})
    return out.reset_index(drop=True)


_LEVEL = {"closed": 0, "half_open": 1, "open": 2, "forced_open": 2}


def plot_outage(worlds: dict[str, pd.DataFrame], scenario: dict[str, Any] | None = None) -> Any:
    """Breaker state over time in each world, the outage window shaded, and L2 errors per second."""
    import matplotlib.pyplot as plt

    sc = {**SCENARIO, **(scenario or {})}
    down, up = sc["faults.redis.down_at"], sc["faults.redis.down_at"] + sc["faults.redis.down_for"]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 5), sharex=True)
    for name, log in worlds.items():
        tl = breaker_timeline(log)
        t = [*tl["time"], float(sc["duration"])]
        levels = [_LEVEL[s] for s in tl["state"]]
        ax1.step(
            t,
            [*levels, levels[-1]],
            where="post",
            label=name,
            lw=2 if name == "real" else 1.2,
            ls="-" if name == "real" else "--",
        )
        l2 = log[(log["component"] == "Redis_Cache_L2") & (log["outcome"] == "error")]
        edges = np.arange(0, float(sc["duration"]) + 2, 2.0)
        ax2.step(edges[:-1], np.histogram(l2["time"], edges)[0] / 2.0, where="post", label=name)
    for ax in (ax1, ax2):
        ax.axvspan(down, up, color="tab:red", alpha=0.1)
    ax1.set_yticks([0, 1, 2], ["CLOSED", "HALF_OPEN", "OPEN"])
    ax1.set_title("circuit breaker on L2 (shaded: Redis disconnected)")
    ax1.set_ylabel("breaker state")
    ax1.legend()
    ax2.set_ylabel("L2 errors / s")
    ax2.set_xlabel("time (s)")
    ax2.legend()
    fig.tight_layout()
    return fig


def conclusion(real: dict[str, Any], sim: pd.DataFrame, scenario: dict[str, Any] | None = None) -> str:
    """Detection and recovery times and the integrity checks, worded from both runs."""
    sc = {**SCENARIO, **(scenario or {})}
    down, up = sc["faults.redis.down_at"], sc["faults.redis.down_at"] + sc["faults.redis.down_for"]
    lines = []
    for name, log in (("real", real["log"]), ("sim", sim)):
        tl = breaker_timeline(log)
        opened = tl.loc[tl["state"] == "open", "time"]
        closed = tl.loc[(tl["state"] == "closed") & (tl["time"] > 0), "time"]
        lines.append(
            f"- {name}: breaker opened {float(opened.iloc[0]) - down:.1f} s after the disconnect and closed "
            f"{float(closed.iloc[-1]) - up:.1f} s after Redis came back "
            f"(recovery checks every {sc['recovery.interval']:g} s)."
        )
    s = get_model("fault_injection").summarize(sim)
    lines.append(
        f"- real: {real['answered']} reads answered, {real['wrong']} wrong; {real['writes']} keys written, "
        f"{real['journaled']} L2 writes journaled during the outage, {real['lost_in_l2']} keys missing or "
        f"stale in L2 after recovery, {real['pending']} writes still pending "
        f"— nothing lost: {real['wrong'] == 0 and real['lost_in_l2'] == 0 and real['pending'] == 0}."
    )
    lines.append(
        f"- sim: {s['answered']} of {s['requests']} requests answered, {s['wrong']} wrong, "
        f"{s['journaled']} writes journaled, validation passed: {s['validated']}."
    )
    return "\n".join(lines)
