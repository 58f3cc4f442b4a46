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

__all__ = ["WORKLOADS", "WorkloadError", "arrivals", "keys_for", "market_frames", "market_open_arrivals",
           "payload", "signal_requests", "zipf_choice"]

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


# ---- the signal flow's workload: many symbols of 1m candles, a request mix, a market-open burst ----------

#: 1m recordings cut into symbol windows (``../shared/data``, through :mod:`supreme.paths`).
RECORDINGS_1M = (("BTCPERP", "nautilus/btc-perp-20211231-20220201_1m.csv"),
                 ("UTBTC", "freqtrade/UNITTEST_BTC-1m.feather"), ("XRPETH", "freqtrade/XRP_ETH-1m.feather"))
#: Common open time every symbol window is re-timed to (2022-01-03 00:00 UTC).
MARKET_EPOCH_MS = 1_641_168_000_000


def market_frames(n_symbols: int, window: int = 720) -> tuple[dict[str, Any], str, str]:
    """``n_symbols`` OHLCV frames of ``window`` candles each, all re-timed to :data:`MARKET_EPOCH_MS`;
    the timeframe and where they came from.

    Symbols are consecutive windows of the shared 1m recordings (``W00``, ``W01``… per file, so each
    symbol has its own real price path); when the recordings are absent the bundled daily sample is cut
    the same way (timeframe ``1d``).
    """
    import pandas as pd

    from supreme.market.loaders import load_ohlcv
    from supreme.paths import SharedDataMissing, shared_data

    if n_symbols < 1 or window < 2:
        raise WorkloadError(f"need n_symbols >= 1 and window >= 2, got {n_symbols}, {window}")
    sources: list[tuple[str, pd.DataFrame]] = []
    try:
        for name, rel in RECORDINGS_1M:
            sources.append((name, load_ohlcv(shared_data(rel))))
        timeframe, origin = "1m", "shared 1m recordings: " + ", ".join(rel for _, rel in RECORDINGS_1M)
    except SharedDataMissing:
        from supreme.market.sample import load_sample, sample_symbols

        sources = [(s, load_sample(s).reset_index(drop=True)) for s in sample_symbols()]
        timeframe, origin = "1d", "bundled daily sample (shared recordings absent)"
    step = 60_000 if timeframe == "1m" else 86_400_000
    windows = [(name, i, frame) for name, frame in sources for i in range(len(frame) // window)]
    if len(windows) < n_symbols:
        raise WorkloadError(f"{origin} hold {len(windows)} windows of {window} candles; {n_symbols} asked")
    # interleave the files, so a few symbols already span several recordings
    order = sorted(range(len(windows)), key=lambda j: (windows[j][1], j))[:n_symbols]
    frames: dict[str, Any] = {}
    for j in order:
        name, i, frame = windows[j]
        part = frame.iloc[i * window:(i + 1) * window][["open", "high", "low", "close", "volume"]].copy()
        part.insert(0, "timestamp", MARKET_EPOCH_MS + step * np.arange(window, dtype=np.int64))
        frames[f"{name}W{i:02d}"] = part.reset_index(drop=True)
    return frames, timeframe, origin


def market_open_arrivals(n: int, rate: float, rng: np.random.Generator, *, burst: float = 1.0,
                         decay: float = 5.0) -> np.ndarray:
    """Arrival times of ``n`` requests: Poisson at ``rate * (1 + (burst - 1) * exp(-t / decay))``.

    ``burst`` is the opening rush over the settled ``rate`` (1: plain Poisson); drawn by thinning a
    Poisson process at the peak rate, so the times are exact for the time-varying rate and seeded.
    """
    if not rate > 0 or burst < 1 or not decay > 0:
        raise WorkloadError(f"need rate > 0, burst >= 1, decay > 0; got {rate}, {burst}, {decay}")
    if burst == 1.0:
        return arrivals(n, rate, rng)
    peak = rate * burst
    out: list[np.ndarray] = []
    t0, have = 0.0, 0
    while have < n:
        cand = t0 + np.cumsum(rng.exponential(1.0 / peak, size=2 * (n - have) + 16))
        keep = rng.random(cand.size) < (1.0 + (burst - 1.0) * np.exp(-cand / decay)) / burst
        out.append(cand[keep])
        have += int(keep.sum())
        t0 = float(cand[-1])
    return np.concatenate(out)[:n]


def zipf_choice(n: int, k: int, s: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices in ``[0, k)`` drawn with probability proportional to ``1 / (i + 1) ** s``."""
    weights = 1.0 / np.arange(1, k + 1) ** s
    return rng.choice(k, size=n, p=weights / weights.sum())


def signal_requests(sc: Mapping[str, Any], n_symbols: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrival times, client indices and symbol indices of the scenario's signal requests (seeded).

    Symbols are Zipf-popular (``load.zipf``; 0 is uniform); arrivals follow
    :func:`market_open_arrivals` with ``load.burst`` and ``load.burst_decay``.
    """
    n = int(sc["requests"])
    times = market_open_arrivals(n, float(sc["load.rate"]), rng, burst=float(sc["load.burst"]),
                                 decay=float(sc["load.burst_decay"]))
    who = rng.integers(int(sc["clients"]), size=n)
    s = float(sc["load.zipf"])
    what = zipf_choice(n, n_symbols, s, rng) if s > 0 else rng.integers(n_symbols, size=n)
    return times, who, what
