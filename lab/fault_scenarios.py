"""Fault scenarios on a real replay, beside the SimPy model on the same fault schedule.

One schedule, in the shared vocabulary (``faults.<target>.<kind>_at`` / ``_for`` …, seconds of
*scenario time* ``0 … duration``), drives two worlds:

* real — a recording (BTC-PERP 1m from ``../shared/data``; the bundled S&P 500 sample when it is
  absent) replayed by :func:`supreme.replay.outage.replay_with_faults`: the real signal path, L2
  behind a loopback ``TcpProxy`` switched by the schedule, ``ErrorRecovery`` bringing L2 back, every
  L3 entry read back from L2 afterwards.  The replay's market span is mapped linearly onto
  ``0 … duration``.  Back-ends: a ``fakeredis.TcpFakeServer`` on loopback and a temporary SQLite
  file (the embedded default, no server), or the real Redis and PostgreSQL URLs;
* sim — :mod:`sim.models.fault_injection` with the same windows over ``duration`` simulated seconds.

Faults done, both worlds:

* Redis disconnect (``faults.redis.down_*``) and latency (``faults.redis.slow_*``, ``slow_latency`` s
  added per forwarded chunk; the model multiplies by ``slow_factor`` and adds the same delay per
  request and reply);
* PostgreSQL backend termination (``faults.pg.down_*``): real, at every replay step inside the window,
  ``pg_terminate_backend`` on this run's own backends (on SQLite: closing the handle's connection);
  the model ends its L3 connection as often as the real run did, and the next L3 call pays a connect
  (``pg.reconnect_cost``, psycopg_pool's check discards the dead connection): no error, no breaker;
* pool exhaustion (``faults.pool.down_*``): real, every connection of the psycopg pool held (on
  SQLite: the write lock held), L3 calls wait ``pool_timeout`` and fail; the model's L3 calls wait
  ``pool.timeout`` and fail;
* exchange errors (``faults.exchange.error_*``, ``error_rate``) and rate limits
  (``faults.ratelimit.down_*``): the feed world of :mod:`supreme.replay.exchange_faults` — clients
  ask the real feed every 0.2 s, ccxt errors from a recorded exchange through the real
  ``CcxtConnector``, ``exchange_retry`` and its breaker; the model's source fails on the same
  windows through the same retry.  They cannot share a schedule with the replay's targets.

The comparison table is :func:`lab.fault_table.compare`.
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

from lab.fault_table import compare, compare_stream, conclusion, plot_timelines
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
#: Seconds between client requests in the exchange scenarios (both worlds).
EXCHANGE_INTERVAL = 0.2
#: The fault kinds each world can run, per target.
SUPPORTED: dict[str, tuple[str, ...]] = {"redis": ("down", "slow"), "pg": ("down",), "pool": ("down",),
                                         "exchange": ("error",), "ratelimit": ("down",), "stream": ("down",)}
#: The targets the SimPy model has.
MODELLED = ("redis", "pg", "pool", "exchange", "ratelimit", "stream")
#: Targets hitting the exchange: they run on the feed world (clients asking the feed for candles).
EXCHANGE = ("exchange", "ratelimit")
#: The stream target: a subscriber that stops reading (the stream world, beside the ws_streaming model).
STREAM = ("stream",)
#: The stream world's settings, the same in the ws_streaming model.
STREAM_SETTINGS: dict[str, Any] = {"clients": 3, "queue_size": 4, "max_behind": 10.0, "poll_interval": 1.0}



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
    targets = {w.target for w in schedule.windows}
    for group, world in ((EXCHANGE, "the feed world"), (STREAM, "the stream world")):
        if targets & set(group) and targets - set(group):
            raise FaultError(f"{sorted(targets & set(group))} run on {world} and cannot share a schedule "
                             f"with {sorted(targets - set(group))}: run them apart")
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
             block_candles: int = 240, batch_size: int = 3, seed: int = 0) -> dict[str, Any]:
    """The recording through the real signal path under ``faults`` (scenario seconds); the embedded
    back-ends when no URL is given."""
    schedule = check_faults(faults)
    if any(w.target in STREAM for w in schedule.windows):
        from supreme.replay.stream_faults import replay_stream_faults

        srun = replay_stream_faults(stream, faults, duration=duration, redis_url=redis_url,
                                    database_url=database_url, **STREAM_SETTINGS)
        return {"run": srun, "log": srun.event_log.to_frame(), "scale": 1.0}
    if any(w.target in EXCHANGE for w in schedule.windows):
        return _run_exchange(stream, faults, duration=duration, redis_url=redis_url,
                             database_url=database_url, namespace=namespace, seed=seed)
    scale, _ = _scale(stream, duration)
    settings = PipelineSettings(block_candles=block_candles, batch_size=batch_size)
    with tempfile.TemporaryDirectory(prefix="supreme-scn-") as tmp, \
            (embedded_redis() if redis_url is None else _given(redis_url)) as url:
        db = database_url or f"sqlite:///{Path(tmp) / 'l3.sqlite'}"
        run = replay_with_faults([stream], _market_faults(faults, scale), redis_url=url, database_url=db,
                                 namespace=namespace, settings=settings)
    return {"run": run, "scale": scale, "log": _scenario_log(run, stream, scale)}


def _run_exchange(stream: Stream, faults: Mapping[str, Any], *, duration: float, redis_url: str | None,
                  database_url: str | None, namespace: str, seed: int) -> dict[str, Any]:
    """The feed world: clients asking the real feed (CcxtConnector over the recording) every 0.2 s."""
    from supreme.replay.exchange_faults import replay_exchange_faults

    with tempfile.TemporaryDirectory(prefix="supreme-scn-") as tmp, \
            (embedded_redis() if redis_url is None else _given(redis_url)) as url:
        db = database_url or f"sqlite:///{Path(tmp) / 'l3.sqlite'}"
        run = replay_exchange_faults(stream, faults, redis_url=url, database_url=db, namespace=namespace,
                                     duration=duration, interval=EXCHANGE_INTERVAL, seed=seed)
    s = run.summary
    summary = {"signals": s["answered"], "failed": s["failed"], "l3_entries": s["l3_entries"],
               "lost": s["lost"], "pg_terminated": 0}
    return {"run": run, "summary": summary, "scale": 1.0, "log": run.event_log.to_frame()}


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
    schedule = check_faults(faults)
    scenario: dict[str, Any] = {"seed": seed, "duration": duration}
    if any(w.target in STREAM for w in schedule.windows):
        st = STREAM_SETTINGS
        return run_model("ws_streaming", {
            **scenario, "clients": st["clients"], "ws.queue_size": st["queue_size"],
            "ws.max_behind": st["max_behind"], "feed.poll_interval": st["poll_interval"],
            "client.unsubscribe_at": duration + 60.0, "health.interval": 1e6, **dict(faults)})
    if any(w.target in EXCHANGE for w in schedule.windows):
        # as the feed world: one symbol read every 0.2 s, a new candle (a new key) every second
        scenario.update({"load.interval": EXCHANGE_INTERVAL, "load.poisson": False, "load.rotate": 1.0,
                         "load.keys": 1, "load.write_fraction": 0.0})
    if not any(k.startswith("faults.redis.down_") for k in faults):
        scenario["faults.redis.down_at"] = None
        scenario["faults.redis.down_for"] = None
    return run_model("fault_injection", {**scenario, **dict(faults)})


def run_scenario(faults: Mapping[str, Any], *, stream: Stream | None = None, duration: float = 120.0,
                 seed: int = 0, redis_url: str | None = None, database_url: str | None = None,
                 namespace: str = "scn:") -> dict[str, Any]:
    """Both worlds on one schedule: ``{"real", "sim", "table"}`` (event logs on the scenario axis)."""
    schedule = check_faults(faults)
    stream = stream if stream is not None else load_recording()
    real = run_real(stream, faults, duration=duration, redis_url=redis_url, database_url=database_url,
                    namespace=namespace, seed=seed)
    kills = real["log"].query("component == 'Chaos_Engine' and operation == 'terminate_backends'")["time"]
    extra = {"pg.terminate_every": float(np.diff(kills).mean())} if len(kills) > 1 else {}
    sim = run_sim({**faults, **extra}, duration=duration, seed=seed)
    streamed = any(w.target in STREAM for w in schedule.windows)
    table = (compare_stream(real, sim, schedule, duration) if streamed
             else compare(real, sim, schedule, duration, MODELLED))
    return {"real": real, "sim": sim, "table": table, "schedule": schedule}
