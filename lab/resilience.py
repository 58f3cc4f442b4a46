"""Notebook 05: a Redis disconnect during a replay — breaker timeline, recovery time, nothing lost.

Real run (:func:`run_real_outage`): the real CacheManager with L1 memory, L2 a :class:`RedisTier`
over fakeredis, L3 a fresh SQLite file, every L2 call guarded by the real
:class:`~supreme.resilience.breaker.CircuitBreaker`.  The fault is the fakeredis server's
``connected`` switch, flipped by the real :class:`supreme.resilience.faults.FaultSchedule` (the shared
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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.runner import get_model, run_model
from supreme.cache import CacheManager, MemoryTier, RedisTier, SqlTier
from supreme.cache.codec import decode_entry
from supreme.clock import ManualClock
from supreme.events import EventLog
from supreme.resilience.breaker import CallNotPermitted, CircuitBreaker, State
from supreme.resilience.faults import FaultSchedule

__all__ = ["SCENARIO", "breaker_timeline", "conclusion", "plot_outage", "run_real_outage", "run_sim_outage"]

#: Shared by both worlds (keys of :mod:`sim.models.fault_injection`).
SCENARIO: dict[str, Any] = {
    "duration": 120.0,
    "load.interval": 0.2,
    "load.write_fraction": 0.2,
    "load.keys": 40,
    "l1.capacity": 16,
    "faults.redis.down_at": 30.0,
    "faults.redis.down_for": 40.0,
    "breaker.failure_rate_threshold": 50.0,
    "breaker.window": 10,
    "breaker.min_calls": 10,
    "breaker.wait_open": 600.0,
    "breaker.half_open_calls": 1,
    "recovery.interval": 10.0,
    "seed": 0,
}


def run_real_outage(scenario: dict[str, Any] | None = None) -> dict[str, Any]:
    """The real components through a Redis disconnect; the event log and the integrity checks."""
    import fakeredis

    sc = {**SCENARIO, **(scenario or {})}
    rng = np.random.default_rng(int(sc["seed"]))
    clock = ManualClock(0.0)
    log = EventLog(run_id=f"real-outage-s{sc['seed']}", world="real")
    server = fakeredis.FakeServer()
    l2 = RedisTier(fakeredis.FakeRedis(server=server), owns_client=True)
    chaos = FaultSchedule(clock=clock, event_log=log)
    chaos.add("redis", float(sc["faults.redis.down_at"]), float(sc["faults.redis.down_for"]))
    chaos.bind(
        "redis", lambda w: setattr(server, "connected", False), lambda w: setattr(server, "connected", True)
    )
    breaker = CircuitBreaker(
        "redis",
        clock=clock,
        event_log=log,
        failure_rate_threshold=float(sc["breaker.failure_rate_threshold"]),
        sliding_window_size=int(sc["breaker.window"]),
        minimum_number_of_calls=int(sc["breaker.min_calls"]),
        wait_duration_in_open=float(sc["breaker.wait_open"]),
        permitted_calls_in_half_open=int(sc["breaker.half_open_calls"]),
    )
    truth: dict[str, dict[str, int]] = {}
    wrong = answered = 0
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
        n = int(float(sc["duration"]) / float(sc["load.interval"]))
        keys = rng.integers(int(sc["load.keys"]), size=n)
        writes = rng.random(n) < float(sc["load.write_fraction"])
        gaps = rng.exponential(float(sc["load.interval"]), size=n)
        next_recovery = None
        for i in range(n):
            clock.advance(float(gaps[i]))
            chaos.apply()
            now = clock.now()
            if breaker.state is State.OPEN:
                next_recovery = now if next_recovery is None else next_recovery
                if now >= next_recovery:
                    next_recovery = now + float(sc["recovery.interval"])
                    try:
                        l2.ping()
                        log.record(now, "fault_injection", "Recovery_System", "reconnect", "ok", key="redis")
                        breaker.transition_to_half_open()
                    except ConnectionError as exc:
                        log.record(
                            now,
                            "fault_injection",
                            "Recovery_System",
                            "reconnect",
                            "error",
                            key="redis",
                            detail=type(exc).__name__,
                        )
            else:
                next_recovery = None
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
