"""Fault scenarios on a real replay, beside the SimPy model on the same fault schedule.

One schedule, in the shared vocabulary (``faults.<target>.<kind>_at`` / ``_for`` …, seconds of
*scenario time* ``0 … duration``), drives two worlds:

* real — a recording (BTC-PERP 1m from ``../shared/data``; the bundled S&P 500 sample when it is
  absent) replayed by :func:`supreme.replay.outage.replay_with_faults`: the real signal path, L2
  behind a loopback ``TcpProxy`` switched by the schedule, ``ErrorRecovery`` bringing L2 back, every
  L3 entry read back from L2 afterwards.  The replay's market span is mapped linearly onto
  ``0 … duration``.  Back-ends: a ``fakeredis.TcpFakeServer`` on loopback and a temporary SQLite
  file (the embedded default, no server), or the real Redis and PostgreSQL URLs;
* sim — :mod:`sim.models.fault_injection` with the same ``faults.redis.*`` windows over
  ``duration`` simulated seconds.

Faults done: Redis disconnect (``faults.redis.down_*``), Redis latency (``faults.redis.slow_*``,
``slow_latency`` s added per forwarded chunk; the model multiplies by ``slow_factor`` and adds the
same delay per request and reply), and PostgreSQL backend termination (``faults.pg.down_*``: at
every replay step inside the window, ``pg_terminate_backend`` on this run's own backends; on SQLite
the equivalent is closing the handle's connection; real world only, the model has no L3 fault).
Any other target or kind is refused by :func:`check_faults`, as are overlapping windows of one
target: a clear :class:`FaultError` naming the key or the windows.
"""

from __future__ import annotations

import itertools
import socket
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.runner import run_model
from supreme.market.loaders import load_ohlcv
from supreme.market.sample import load_sample
from supreme.paths import SharedDataMissing, shared_data
from supreme.replay.outage import FaultReplay, replay_with_faults
from supreme.replay.pipeline import PipelineSettings
from supreme.replay.sources import Stream
from supreme.resilience.fault_schedule import FaultError, FaultSchedule

__all__ = [
    "BTC_PERP",
    "SUPPORTED",
    "check_faults",
    "compare",
    "conclusion",
    "embedded_redis",
    "load_recording",
    "plot_timelines",
    "run_real",
    "run_scenario",
    "run_sim",
]

BTC_PERP = "nautilus/btc-perp-20211231-20220201_1m.csv"
#: The fault kinds each world can run, per target.
SUPPORTED: dict[str, tuple[str, ...]] = {"redis": ("down", "slow"), "pg": ("down",)}
#: The targets the SimPy model has (a pg window runs in the real world only).
MODELLED = ("redis",)


def check_faults(faults: Mapping[str, Any]) -> FaultSchedule:
    """The schedule of ``faults``; raises :class:`FaultError` naming an unknown target or kind, or
    two windows of one target that overlap."""
    schedule = FaultSchedule.from_scenario(faults)  # malformed keys and fields are refused here
    for w in schedule.windows:
        kinds = SUPPORTED.get(w.target)
        if kinds is None:
            raise FaultError(f"unknown fault target {w.target!r} (faults.{w.target}.{w.kind}_at): this "
                             f"runner does {sorted(SUPPORTED)}")
        if w.kind not in kinds:
            raise FaultError(f"unknown fault kind {w.kind!r} for {w.target!r} "
                             f"(faults.{w.target}.{w.kind}_at): supported {list(kinds)}")
    by_target = sorted(schedule.windows, key=lambda w: (w.target, w.start))
    for a, b in itertools.pairwise(by_target):
        if a.target == b.target and b.start < a.end:
            raise FaultError(f"overlapping fault windows on {a.target!r}: {a.kind} [{a.start:g}, {a.end:g}) "
                             f"and {b.kind} [{b.start:g}, {b.end:g}) (faults.{a.target}.{a.kind}_* and "
                             f"faults.{b.target}.{b.kind}_*)")
    return schedule


def load_recording(relative: str = BTC_PERP, symbol: str = "BTC-PERP", rows: int | None = None) -> Stream:
    """A shared recording as a stream; the bundled S&P 500 daily sample when it is absent."""
    try:
        path = shared_data(relative)
        frame, tf, name = load_ohlcv(path), "1m", symbol
    except SharedDataMissing:
        frame, tf, name, path = load_sample("SPX"), "1d", "SPX", Path("sample:SPX")
    if rows is not None:
        frame = frame.iloc[:rows].reset_index(drop=True)
    return Stream(name, tf, frame, (str(path),))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def embedded_redis() -> Iterator[str]:
    """A fakeredis TCP server on a loopback port (no Redis needed); yields its URL."""
    from fakeredis import TcpFakeServer

    port = _free_port()
    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _scale(stream: Stream, duration: float) -> tuple[float, float]:
    ts = stream.frame["timestamp"]
    span = (int(ts.iloc[-1]) - int(ts.iloc[0])) / 1000.0
    return span / duration, span


def _market_faults(faults: Mapping[str, Any], scale: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in faults.items():
        field = key.rsplit(".", 1)[-1]
        timed = field.endswith(("_at", "_for")) and value is not None
        out[key] = float(value) * scale if timed else value
    return out


def run_real(stream: Stream, faults: Mapping[str, Any], *, duration: float = 120.0,
             redis_url: str | None = None, database_url: str | None = None, namespace: str = "scn:",
             block_candles: int = 240, batch_size: int = 3) -> dict[str, Any]:
    """The recording through the real signal path under ``faults`` (scenario seconds); the embedded
    back-ends when no URL is given."""
    check_faults(faults)
    scale, _ = _scale(stream, duration)
    settings = PipelineSettings(block_candles=block_candles, batch_size=batch_size)
    with tempfile.TemporaryDirectory(prefix="supreme-scn-") as tmp, \
            (embedded_redis() if redis_url is None else _given(redis_url)) as url:
        db = database_url or f"sqlite:///{Path(tmp) / 'l3.sqlite'}"
        run = replay_with_faults([stream], _market_faults(faults, scale), redis_url=url, database_url=db,
                                 namespace=namespace, settings=settings)
    return {"run": run, "scale": scale, "log": _scenario_log(run, stream, scale)}


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


def _scenario_log(run: FaultReplay, stream: Stream, scale: float) -> pd.DataFrame:
    """The real event log with its time on the scenario axis (seconds from the first candle / scale)."""
    frame = run.event_log.to_frame()
    start = int(stream.frame["timestamp"].iloc[0]) / 1000.0
    frame["time"] = ((frame["time"] - start) / scale).round(6)
    return frame


def run_sim(faults: Mapping[str, Any], *, duration: float = 120.0, seed: int = 0) -> pd.DataFrame:
    """The SimPy fault-injection model on the same windows (its default Redis window switched off)."""
    check_faults(faults)
    scenario: dict[str, Any] = {"seed": seed, "duration": duration}
    if not any(k.startswith("faults.redis.down_") for k in faults):
        scenario["faults.redis.down_at"] = None
        scenario["faults.redis.down_for"] = None
    return run_model("fault_injection", {**scenario, **dict(faults)})


def _transitions(log: pd.DataFrame, breaker: str) -> pd.DataFrame:
    tr = log[(log["component"] == "Circuit_Breaker") & (log["operation"] == "transition")]
    if "key" in tr and breaker:
        named = tr[tr["key"].astype(str).str.contains(breaker, regex=False)]
        tr = named if len(named) else tr
    return tr[["time", "outcome"]].rename(columns={"outcome": "to"}).reset_index(drop=True)


def _l2_latency_ms(log: pd.DataFrame, lo: float, hi: float) -> tuple[float, float]:
    rows = log[(log["component"] == "Redis_Cache_L2") & (log["time"] >= lo) & (log["time"] < hi)]
    lat = rows["latency"].dropna().to_numpy(dtype=float)
    if not len(lat):
        return float("nan"), float("nan")
    p50, p99 = np.percentile(lat, [50, 99]) * 1000.0
    return round(float(p50), 4), round(float(p99), 4)


def _world_row(log: pd.DataFrame, schedule: FaultSchedule, duration: float, breaker: str) -> dict[str, Any]:
    comp = log["component"]
    end = max((w.end for w in schedule.windows if np.isfinite(w.end)), default=0.0)
    start = min((w.start for w in schedule.windows), default=0.0)
    tr = _transitions(log, breaker)
    closed_after = tr[(tr["to"] == "closed") & (tr["time"] >= end)]["time"]
    opened = int((tr["to"] == "open").sum())
    recovery = round(float(closed_after.iloc[-1]) - end, 3) if opened and len(closed_after) else 0.0
    during, after = _l2_latency_ms(log, start, end), _l2_latency_ms(log, end, duration)
    return {"L2 errors": int(((comp == "Redis_Cache_L2") & (log["outcome"] == "error")).sum()),
            "L2 journaled": int(((comp == "Redis_Cache_L2") & (log["outcome"] == "journaled")).sum()),
            "breaker opened": opened, "transitions": " → ".join(tr["to"]) or "-",
            "recovery s after fault": recovery,
            "L2 P50 ms during": during[0], "L2 P99 ms during": during[1],
            "L2 P50 ms after": after[0], "L2 P99 ms after": after[1]}


def compare(real: dict[str, Any], sim: pd.DataFrame, faults: Mapping[str, Any],
            duration: float = 120.0) -> pd.DataFrame:
    """One row per world: served, errors, breaker, recovery time, L2 latency during/after, writes lost."""
    from sim.runner import get_model

    schedule = check_faults(faults)
    s = real["run"].summary
    r = {"world": "real", "served": s["signals"], "wrong": 0,
         **_world_row(real["log"], schedule, duration, "L2"),
         "writes checked": s["l3_entries"], "writes lost": s["lost"],
         "L3 backends ended": s["pg_terminated"], "faults modelled": "all"}
    for col in [c for c in r if c.startswith("L2 P")]:
        r[col] = float("nan")  # the replay runs on a manual market clock: its event log has no wall latency
    ss = get_model("fault_injection").summarize(sim)
    val = sim.attrs.get("validations") or [{}]
    m = {"world": "sim", "served": ss["answered"], "wrong": ss["wrong"],
         **_world_row(sim, schedule, duration, ""),
         "writes checked": int(val[-1].get("writes", 0)), "writes lost": int(val[-1].get("lost", 0)),
         "L3 backends ended": 0,
         "faults modelled": ", ".join(sorted({w.target for w in schedule.windows if w.target in MODELLED}))
         or "none"}
    return pd.DataFrame([r, m]).set_index("world")


def run_scenario(faults: Mapping[str, Any], *, stream: Stream | None = None, duration: float = 120.0,
                 seed: int = 0, redis_url: str | None = None, database_url: str | None = None,
                 namespace: str = "scn:") -> dict[str, Any]:
    """Both worlds on one schedule: ``{"real", "sim", "table"}`` (event logs on the scenario axis)."""
    check_faults(faults)
    stream = stream if stream is not None else load_recording()
    real = run_real(stream, faults, duration=duration, redis_url=redis_url, database_url=database_url,
                    namespace=namespace)
    sim = run_sim(faults, duration=duration, seed=seed)
    return {"real": real, "sim": sim, "table": compare(real, sim, faults, duration),
            "schedule": check_faults(faults)}


_LEVEL = {"closed": 0, "half_open": 1, "open": 2, "forced_open": 2}


def plot_timelines(runs: Mapping[str, dict[str, Any]], duration: float = 120.0) -> Any:
    """One panel per scenario: the L2 breaker's state in each world on the scenario axis, faults shaded."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 2.6 * len(runs)), sharex=True, squeeze=False)
    for ax, (name, out) in zip(axes[:, 0], runs.items(), strict=True):
        for world, log, breaker in (("real", out["real"]["log"], "L2"), ("sim", out["sim"], "")):
            tr = _transitions(log, breaker)
            t = [0.0, *tr["time"], duration]
            levels = [0, *(_LEVEL[s] for s in tr["to"])]
            ax.step(t, [*levels, levels[-1]], where="post", label=world, lw=2 if world == "real" else 1.2,
                    ls="-" if world == "real" else "--")
        for w in out["schedule"].windows:
            ax.axvspan(w.start, min(w.end, duration), color="tab:red" if w.kind == "down" else "tab:orange",
                       alpha=0.12)
        ax.set_yticks([0, 1, 2], ["CLOSED", "HALF_OPEN", "OPEN"])
        ax.set_title(f"{name}: L2 breaker (shaded: fault window)")
        ax.legend(loc="upper right")
    axes[-1, 0].set_xlabel("scenario time (s)")
    fig.tight_layout()
    return fig


def conclusion(runs: Mapping[str, dict[str, Any]]) -> str:
    """Worded from the comparison tables: served, lost, breaker and recovery per scenario and world."""
    lines = []
    for name, out in runs.items():
        t = out["table"]
        for world in t.index:
            r = t.loc[world]
            lines.append(f"- {name}, {world}: {int(r['served'])} served ({int(r['wrong'])} wrong), "
                         f"{int(r['L2 errors'])} L2 errors, breaker opened {int(r['breaker opened'])}x, "
                         f"closed {r['recovery s after fault']:g} s after the fault ended; "
                         f"{int(r['writes lost'])} of {int(r['writes checked'])} writes lost on read-back.")
    whole = all(int(out["table"]["writes lost"].sum()) == 0 and int(out["table"]["wrong"].sum()) == 0
                for out in runs.values())
    lines.append(f"Nothing lost and nothing wrong in every scenario and world: {whole}.")
    return "\n".join(lines)
