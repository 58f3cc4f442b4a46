"""Workloads shared by the data-path models and the real runs: key sequences, arrival times, values.

A workload is named in a scenario (``workload.name``) and built from
:mod:`supreme.adaptive.workloads` with the scenario's seed, so a simulation and a real run of
the same scenario see exactly the same keys in the same order.  Arrival times are open-loop
(requests sent on a schedule, never after the previous answer): Poisson at ``workload.rate``.
Values come from :func:`payload`, a pure function of the key, so the source returns the same bytes
in both worlds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from sim.errors import SimError

__all__ = ["WORKLOADS", "WorkloadError", "arrivals", "keys_for", "payload"]

WORKLOADS = ("zipf_shifting", "dashboard_replay", "candle_walk", "scan_with_hot_set", "volatility_bursts")


class WorkloadError(SimError, ValueError):
    """Unknown workload name or bad workload parameters."""


def keys_for(name: str, n: int, seed: int, **params: Any) -> list[str]:
    """``n`` keys of workload ``name`` (a generator of :mod:`supreme.adaptive.workloads`)."""
    from supreme.adaptive import workloads

    if name not in WORKLOADS:
        raise WorkloadError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")
    if n < 1:
        raise WorkloadError(f"workload length must be >= 1, got {n}")
    gen = getattr(workloads, name)
    return list(gen(n, seed=seed, **params).keys)


def arrivals(n: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Open-loop Poisson arrival times (seconds from 0) of ``n`` requests at ``rate`` per second."""
    if not rate > 0:
        raise WorkloadError(f"arrival rate must be > 0, got {rate}")
    return np.cumsum(rng.exponential(1.0 / rate, size=n))


def payload(key: str, nbytes: int = 256) -> bytes:
    """The source's value for ``key``: ``nbytes`` deterministic bytes (same in both worlds)."""
    if nbytes < 1:
        raise WorkloadError(f"payload size must be >= 1 byte, got {nbytes}")
    seed = hashlib.blake2b(key.encode(), digest_size=16).digest()
    reps = -(-nbytes // len(seed))
    return (seed * reps)[:nbytes]


def from_scenario(sc: Mapping[str, Any]) -> list[str]:
    """The key sequence of a scenario with ``workload.name``/``workload.n`` (seeded by ``seed``)."""
    return keys_for(str(sc["workload.name"]), int(sc["workload.n"]), int(sc["seed"]))
