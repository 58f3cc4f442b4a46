"""The signal path over recorded history: connector -> feed -> cache -> breaker -> strategy -> signals.

The same objects the service runs (:class:`~supreme.market.replay.ReplayConnector`,
:class:`~supreme.market.feed.MarketDataFeed`, :class:`~supreme.cache.manager.CacheManager` with its
L2/L3 breakers, the strategy's rules), shaped for streams:

* market time moves ``block_candles`` candles at a time on one :class:`~supreme.clock.ManualClock`
  (the one clock: the cache, the breakers and the feed all read it);
* :meth:`MarketDataFeed.advance` appends the newly closed candles of each stream to its numpy
  window -- no DataFrame, no rows;
* the block and its signals go into the cache through a :class:`~supreme.cache.writebehind.WriteBehindQueue`:
  L1 holds them by reference at once, L2/L3 get them in batches, each batch one breaker-guarded call
  per tier, each batch ending with the replay's position (so what L3 holds and where to resume are
  written in one transaction);
* :func:`~supreme.strategy.block.signal_block` computes, candle for candle, the signal
  :meth:`StrategyEngine.generate` gives at that candle's close.

Keys (``{x}`` = exchange, ``{s}`` symbol, ``{tf}`` timeframe, ``{t}`` first open time of the block):
``candles:{x}:{s}:{tf}:{t}`` (float64 rows timestamp, open, high, low, close, volume),
``signals:{x}:{s}:{tf}:{rules digest}:{t}`` (:meth:`SignalBlock.matrix` rows) and
``replay:{run}:position`` (``{"symbols": {s: last open time}, "candles": n, "signals": n}``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from supreme.cache.manager import CacheManager
from supreme.cache.writebehind import WriteBehindQueue
from supreme.clock import Clock, ManualClock, SystemClock
from supreme.events import NULL_LOG, EventLog
from supreme.market.feed import MarketDataFeed
from supreme.market.replay import ReplayConnector
from supreme.market.timeframes import timeframe_ms
from supreme.market.window import CandleArrays
from supreme.replay.sources import Stream
from supreme.resilience.breaker import CircuitBreaker
from supreme.strategy.block import SignalBlock, signal_block, signals_frame
from supreme.strategy.rules import RuleConfig, TradingRules
from supreme.strategy.vote import ACTION_CODES

__all__ = ["PipelineResult", "PipelineSettings", "ReplayPipeline", "rules_digest"]


def rules_digest(config: RuleConfig) -> str:
    """Twelve hex digits naming the rule settings (signals of other settings live under other keys)."""
    text = json.dumps(asdict(config), sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


@dataclass(frozen=True)
class PipelineSettings:
    """How the replay moves and writes."""

    block_candles: int = 1024  #: market time per step, in candles of the timeframe
    batch_size: int = 48  #: write-behind entries per L2/L3 batch
    max_delay: float = 86_400.0  #: market seconds an entry may wait in the queue
    exchange: str = "replay"
    run_name: str = "replay"
    ttl: float | None = None  #: recorded history does not expire

    def __post_init__(self) -> None:
        if self.block_candles < 1:
            raise ValueError(f"block_candles must be >= 1, got {self.block_candles}")


@dataclass
class PipelineResult:
    """What a replay produced and how fast."""

    signals: pd.DataFrame
    candles: int
    elapsed: float
    cache_stats: pd.DataFrame
    queue_stats: dict[str, int]
    breakers: dict[str, str]
    resumed_from: dict[str, int]
    notes: list[str] = field(default_factory=list)
    #: signals per action word, counted as they were made (also when they went to a sink)
    actions: dict[str, int] = field(default_factory=dict)

    @property
    def candles_per_s(self) -> float:
        """Candles replayed per second of wall time."""
        return self.candles / self.elapsed if self.elapsed > 0 else float("inf")

    def summary(self) -> dict[str, Any]:
        """The figures a summary prints."""
        return {"candles": self.candles, "signals": sum(self.actions.values()),
                "elapsed_s": round(self.elapsed, 3), "candles/s": round(self.candles_per_s),
                "actions": {k: v for k, v in self.actions.items() if v}, "breakers": self.breakers,
                "batches": self.queue_stats.get("batches", 0), "resumed_from": self.resumed_from}


class ReplayPipeline:
    """Replays ``streams`` through ``cache`` (built on ``clock``) and the strategy (module docstring)."""

    def __init__(self, streams: Sequence[Stream], cache: CacheManager, clock: ManualClock, *,
                 rules: TradingRules | RuleConfig | None = None, event_log: EventLog = NULL_LOG,
                 breakers: dict[str, CircuitBreaker] | None = None,
                 settings: PipelineSettings | None = None) -> None:
        if not streams:
            raise ValueError("nothing to replay: no streams")
        empty = [s.symbol for s in streams if len(s.frame) == 0]
        if empty:
            raise ValueError(f"nothing to replay for {empty}: no candles (for trades: not one whole "
                             "candle of the timeframe)")
        tfs = {s.timeframe for s in streams}
        if len(tfs) != 1:
            raise ValueError(f"one timeframe per replay, got {sorted(tfs)}")
        if cache.clock is not clock:
            raise ValueError("the cache must run on the pipeline's clock (one clock)")
        self.streams = list(streams)
        self.timeframe = self.streams[0].timeframe
        self.cache, self.clock, self.event_log = cache, clock, event_log
        self.rules = rules if isinstance(rules, TradingRules) else TradingRules(rules)
        self.breakers = dict(breakers or {})
        self.settings = settings or PipelineSettings()
        frames = {s.symbol: s.frame for s in self.streams}
        self.connector = ReplayConnector(frames, clock, self.timeframe, name=self.settings.exchange)
        self.feed = MarketDataFeed(self.connector, clock, cache=cache, event_log=event_log,
                                   exchange=self.settings.exchange)
        self._digest = rules_digest(self.rules.config)
        self._warm_up()

    def _warm_up(self) -> None:
        """Load the compiled kernels now, so the first block (and the replay's timing) does not pay for it."""
        from supreme.market.window import CandleWindow

        n = self.rules.config.history + 2
        close = np.linspace(100.0, 110.0, n)
        w = CandleWindow("warm-up", self.timeframe, self.rules.config.history)
        w.extend(CandleArrays(np.arange(n, dtype=np.int64) * 60_000, close, close + 1, close - 1, close,
                              np.ones(n)))
        signal_block(self.rules, w, 2)

    @property
    def position_key(self) -> str:
        """Where the replay's position is stored."""
        return f"replay:{self.settings.run_name}:position"

    def position(self) -> dict[str, Any] | None:
        """The stored position (from whichever tier has it), or None."""
        value = self.cache.get(self.position_key)
        return value if isinstance(value, dict) else None

    def run(self, *, resume: bool = False, progress: bool = False, speed: float | None = None,
            wall: Clock | None = None, on_step: Callable[[int], Any] | None = None,
            before_step: Callable[[], Any] | None = None,
            sink: Callable[[SignalBlock], Any] | None = None) -> PipelineResult:
        """Replay every stream to its end; ``resume`` continues after the stored position.

        ``speed`` (market seconds per wall second) paces the replay on ``wall``; None is as fast as
        possible.  ``before_step()`` is called once the clock has moved to a step's end (a fault
        schedule applies its windows there), ``on_step(candles so far)`` after the step.  With ``sink``
        each signal block goes there as it is made (a long replay streams them to disk) and the
        result's ``signals`` frame stays empty; memory then does not grow with the replay.
        """
        wall = wall or SystemClock()
        tf_ms = timeframe_ms(self.timeframe)
        spans = [self.connector.span_ms(s.symbol) for s in self.streams if len(s.frame)]
        start_ms, end_ms = min(a for a, _ in spans), max(b for _, b in spans)
        done = self.position() if resume else None
        after: dict[str, int] = {k: int(v) for k, v in done["symbols"].items()} if done else {}
        resumed_from = dict(after)
        total = sum(len(s.frame) for s in self.streams)
        self.clock.set(max(self.clock.now(), start_ms / 1000.0))
        queue = WriteBehindQueue(self.cache, batch_size=self.settings.batch_size,
                                 max_delay=self.settings.max_delay, ttl=self.settings.ttl)
        bar = _progress(total, progress)
        blocks: list[SignalBlock] = []
        actions = np.zeros(len(ACTION_CODES), np.int64)

        def collect(sig: SignalBlock) -> None:
            actions[:] += np.bincount(sig.action, minlength=len(ACTION_CODES))
            (sink or blocks.append)(sig)

        counts = {k: int(done[k]) if done else 0 for k in ("candles", "signals")}
        replayed = 0
        t0 = wall.now()
        market0 = self.clock.now()
        try:
            t_ms = start_ms
            while t_ms < end_ms:
                t_ms = min(t_ms + self.settings.block_candles * tf_ms, end_ms)
                self.clock.set(t_ms / 1000.0)
                if before_step is not None:
                    before_step()
                entries, n = self._step(after, collect, counts)
                replayed += n
                queue.put_many(entries)
                bar.update(n)
                if on_step is not None:
                    on_step(replayed)
                if speed is not None:
                    lag = (self.clock.now() - market0) / speed - (wall.now() - t0)
                    wall.sleep(max(0.0, lag))
            queue.close()
        finally:
            bar.close()
            if self.cache.write_behind is queue:
                self.cache.write_behind = None
        elapsed = wall.now() - t0
        signals = signals_frame(blocks)
        notes = [n for s in self.streams for n in s.notes]
        return PipelineResult(signals, replayed, elapsed, self.cache.stats(), queue.stats(),
                              {k: b.state.value for k, b in self.breakers.items()},
                              resumed_from, notes, dict(zip(ACTION_CODES, actions.tolist(), strict=True)))

    def _step(self, after: dict[str, int], collect: Callable[[SignalBlock], Any],
              counts: dict[str, int]) -> tuple[list[tuple[str, Any]], int]:
        """One step of market time: each stream's new candles into its window, the cache and the strategy."""
        x, tf, keep = self.settings.exchange, self.timeframe, self.rules.config.history
        entries: list[tuple[str, Any]] = []
        replayed = 0
        for st in self.streams:
            block = self.feed.advance(st.symbol, tf, keep)
            last = after.get(st.symbol)
            skip = 0 if last is None else int(np.searchsorted(block.timestamp, last, side="right"))
            fresh = len(block) - skip
            if fresh <= 0:
                continue
            t0 = self.clock.now()
            sig = signal_block(self.rules, self.feed.window(st.symbol, tf, keep), fresh)
            self.event_log.record(self.clock.now(), "trading_signal", "Strategy_Engine", "signal_block", "ok",
                                  key=st.symbol, latency=self.clock.now() - t0,
                                  detail=f"{len(sig)} signals for {fresh} candles")
            first = int(block.timestamp[skip])
            candles = _candle_matrix(block.slice(skip, len(block)))
            entries.append((f"candles:{x}:{st.symbol}:{tf}:{first}", candles))
            entries.append((f"signals:{x}:{st.symbol}:{tf}:{self._digest}:{first}", sig.matrix()))
            collect(sig)
            after[st.symbol] = int(block.timestamp[-1])
            counts["candles"] += fresh
            counts["signals"] += len(sig)
            replayed += fresh
        if entries:
            entries.append((self.position_key, {"symbols": dict(after), **counts}))
        return entries, replayed


def _candle_matrix(block: CandleArrays) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The block as float64 rows timestamp, open, high, low, close, volume (ms exact below 2**53)."""
    return np.ascontiguousarray(np.column_stack([block.timestamp.astype(np.float64), *block[1:]]))


class _NoBar:
    def update(self, n: int) -> None:
        """Nothing to show."""

    def close(self) -> None:
        """Nothing to close."""


def _progress(total: int, show: bool) -> Any:
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="candle", desc="replay", leave=False, mininterval=0.5)
