"""``supreme replay --pipeline`` as a library call: files in, a pipeline run, an output folder out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from supreme.builders import build_hierarchy, redis_client
from supreme.cache.capture import AccessCapture
from supreme.clock import ManualClock
from supreme.events import EventLog
from supreme.market.validation import OnError
from supreme.replay.output import SignalSink, write_outputs
from supreme.replay.pipeline import PipelineResult, PipelineSettings, ReplayPipeline
from supreme.replay.sources import open_streams

__all__ = ["ReplayRun", "replay_files"]


@dataclass
class ReplayRun:
    """A finished replay: its result, its event log and the files written."""

    result: PipelineResult
    event_log: EventLog
    outputs: dict[str, Path]


def replay_files(paths: Sequence[str | Path], out: str | Path, *, symbols: Sequence[str] | None = None,
                 timeframe: str | None = None, on_error: OnError = "raise", resume: bool = False,
                 redis_url: str | None = None, database_url: str | None = None, progress: bool = False,
                 speed: float | None = None, log_events: bool = True, namespace: str = "supreme:",
                 settings: PipelineSettings | None = None, figure: bool = True,
                 trades: bool = False, trace: str | Path | None = None,
                 stream_signals: bool = False) -> ReplayRun:
    """Replay ``paths`` through the pipeline into the folder ``out``.

    L2 is Redis at ``redis_url`` (default: an in-process fakeredis), L3 the database at
    ``database_url`` (default: ``out/l3.sqlite``, so ``resume`` works across processes; a run without
    ``resume`` starts that file afresh).
    """
    streams = open_streams(paths, symbols=symbols, timeframe=timeframe, on_error=on_error, trades=trades)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    if not resume and database_url is None:
        # a new run owns its folder's L3 file: rows of an earlier run must not mix with this one's
        for suffix in ("", "-wal", "-shm"):
            (folder / f"l3.sqlite{suffix}").unlink(missing_ok=True)
    clock = ManualClock(0.0)
    log = EventLog(world="real", enabled=log_events)
    redis = redis_client(redis_url)
    cache, breakers = build_hierarchy(clock, redis, database_url or f"sqlite:///{folder / 'l3.sqlite'}",
                                      event_log=log, default_ttl=None, flow="trading_signal",
                                      namespace=namespace)
    capture = cache.capture = AccessCapture() if trace is not None else None
    sink = SignalSink(folder / "signals.parquet") if stream_signals else None
    try:
        pipeline = ReplayPipeline(streams, cache, clock, event_log=log, breakers=breakers, settings=settings)
        result = pipeline.run(resume=resume, progress=progress, speed=speed, sink=sink)
    finally:
        if sink is not None:
            sink.close()
        cache.close()
        if redis_url:
            redis.close()
    outputs = write_outputs(result, folder, log, figure=figure, sink=sink)
    if capture is not None and trace is not None:
        outputs["trace"] = capture.save(trace)
    return ReplayRun(result, log, outputs)
