"""A cache trace the service itself produced: the real signal pipeline serving a seeded request stream.

:func:`capture_service_trace` builds the real :class:`~supreme.api.pipeline.SignalPipeline` through
:mod:`supreme.builders` on the embedded default (L1 memory, L2 fakeredis, L3 a private SQLite file),
over several recordings of ``../shared/data`` at several timeframes (coarser ones resampled from the
recorded candles), attaches an :class:`~supreme.cache.capture.AccessCapture` to its cache manager and
serves ``n`` signal requests: Poisson arrivals (:func:`sim.workload.arrivals`) on one service clock,
each asking for a market drawn from a Zipf popularity.  Every market is replayed from its own start
(an offset market clock per recording, all advancing with the service clock), so candles keep closing:
signal and candle keys change, old entries are never asked for again and new ones are filled -- the
trace has reuse (hot markets between two closes), one-hit wonders (cold markets, the candle windows a
miss loads) and many distinct keys.  The pipeline's steps 4-6 (:meth:`SignalPipeline.answer`) are
driven directly: admission (auth, rate limits) does not touch the cache manager, so it would not
change the trace.  Without the shared recordings the bundled SPX/IXIC daily samples are served.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.workload import arrivals
from supreme.adaptive.workloads import Workload
from supreme.api.auth import KeyStore
from supreme.api.pipeline import SignalPipeline
from supreme.builders import build_auth, build_hierarchy, build_strategy, redis_client
from supreme.cache.capture import AccessCapture
from supreme.cache.trace import Trace
from supreme.clock import Clock, ManualClock
from supreme.db import Database
from supreme.market.recording import open_recording
from supreme.market.replay import ReplayConnector
from supreme.market.resample import resample_candles
from supreme.market.sample import load_sample
from supreme.market.timeframes import timeframe_ms
from supreme.paths import SharedDataMissing, shared_data

__all__ = ["RECORDINGS", "Market", "ServiceTrace", "as_workload", "capture_service_trace", "service_markets"]

#: shared recordings served (relative path, symbol, timeframes: the recorded one first, then resampled)
RECORDINGS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("nautilus/btc-perp-20211231-20220201_1m.csv", "BTC-PERP", ("1m", "5m", "15m", "1h")),
    ("freqtrade/UNITTEST_BTC-1m.feather", "UNITTEST/BTC", ("1m", "5m", "15m")),
    ("freqtrade/XRP_ETH-1m.feather", "XRP/ETH", ("1m", "5m")),
    ("freqtrade/ETH_BTC-5m.feather", "ETH/BTC", ("5m", "15m", "1h")),
)


@dataclass(frozen=True)
class Market:
    """One served (symbol, timeframe) and its candles."""

    symbol: str
    timeframe: str
    frame: pd.DataFrame
    source: str


@dataclass(frozen=True)
class ServiceTrace:
    """A captured service trace and what produced it."""

    trace: Trace
    requests: int  #: signal requests served
    markets: pd.DataFrame  #: per market: requests, misses (signals computed)
    source: str  #: which recordings were served

    @property
    def distinct_keys(self) -> int:
        """Distinct cache keys in the trace."""
        return int(np.unique(self.trace.obj_id).size)

    @property
    def one_hit_share(self) -> float:
        """Share of distinct keys requested exactly once."""
        _, counts = np.unique(self.trace.obj_id, return_counts=True)
        return float((counts == 1).mean()) if counts.size else 0.0


class OffsetClock:
    """A market clock: ``base.now() + offset`` (one recording replayed from its own start)."""

    def __init__(self, base: Clock, offset: float) -> None:
        self.base, self.offset = base, offset

    def now(self) -> float:
        """Market seconds now."""
        return self.base.now() + self.offset

    def sleep(self, seconds: float) -> None:
        """Sleep on the base clock."""
        self.base.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        """Sleep on the base clock (async)."""
        await self.base.asleep(seconds)


class MarketRouter:
    """An exchange connector routing (symbol, timeframe) to that market's replay connector."""

    name = "service-trace"

    def __init__(self, connectors: dict[tuple[str, str], ReplayConnector]) -> None:
        self._by = connectors

    def last_closed_ms(self, symbol: str, timeframe: str | None = None) -> int | None:
        """Open time of the newest visible candle of the market."""
        return self._by[(symbol, str(timeframe))].last_closed_ms(symbol, timeframe)

    def fetch_ohlcv(self, symbol: str, timeframe: str = "1m", since: int | None = None,
                    limit: int | None = None) -> list[list[float]]:
        """Candles of the market from its replay connector."""
        return self._by[(symbol, timeframe)].fetch_ohlcv(symbol, timeframe, since, limit)

    def fetch_ohlcv_arrays(self, symbol: str, timeframe: str = "1m", since: int | None = None,
                           limit: int | None = None) -> object:
        """Candle arrays of the market from its replay connector."""
        return self._by[(symbol, timeframe)].fetch_ohlcv_arrays(symbol, timeframe, since, limit)


def service_markets(min_candles: int = 200) -> tuple[list[Market], str]:
    """The served markets (shared recordings, else the bundled samples) and a note saying which."""
    markets: list[Market] = []
    try:
        for rel, symbol, timeframes in RECORDINGS:
            frame = open_recording(shared_data(rel)).frame
            for tf in timeframes:
                fr = frame if tf == timeframes[0] else resample_candles(frame, tf)
                if len(fr) >= min_candles:
                    markets.append(Market(symbol, tf, fr.reset_index(drop=True), rel))
        return markets, f"{len(markets)} markets from {len(RECORDINGS)} shared recordings"
    except SharedDataMissing as exc:  # degrade, do not fail: the bundled daily samples
        samples = [Market(s, "1d", load_sample(s), "bundled arch sample") for s in ("SPX", "IXIC")]
        return samples, f"bundled SPX/IXIC daily samples ({exc})"


def _zipf_weights(k: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """Zipf popularity over ``k`` markets, ranks shuffled by ``rng``."""
    w = 1.0 / np.arange(1, k + 1) ** alpha
    return rng.permutation(w / w.sum())


#: the common market time every recording is moved to (ms): its ``warmup``-th candle closes here
_EPOCH_MS = 1_600_000_000_000 - 1_600_000_000_000 % 86_400_000
_DAY_MS = 86_400_000


def _rebased(m: Market, warmup: int) -> pd.DataFrame:
    """The market's candles moved by whole days so its ``warmup``-th candle closes near the epoch.

    One engine (one market clock) serves every market, so the recordings of different years are put
    on one time line; whole days keep every candle on its timeframe's grid.
    """
    if len(m.frame) <= warmup:
        raise ValueError(f"{m.symbol} {m.timeframe}: {len(m.frame)} candles, need > warmup={warmup}")
    close = int(m.frame["timestamp"].iloc[warmup]) + timeframe_ms(m.timeframe)
    shift = -(-(close - _EPOCH_MS) // _DAY_MS) * _DAY_MS  # ceil: the warm-up candle has closed at the epoch
    frame = m.frame.copy()
    frame["timestamp"] = frame["timestamp"] - shift
    return frame


def capture_service_trace(n: int = 20_000, seed: int = 0, *, rate: float = 1.0, alpha: float = 1.0,
                          warmup: int = 60, markets: list[Market] | None = None) -> ServiceTrace:
    """Serve ``n`` seeded signal requests through the real pipeline and return the cache's trace.

    ``rate`` is requests per service second (market time passes at the same pace), ``alpha`` the Zipf
    exponent of market popularity, ``warmup`` candles of history visible at each market's start.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    source = f"{len(markets)} given markets" if markets is not None else ""
    if markets is None:
        markets, source = service_markets()
    rng = np.random.default_rng(seed)
    clock = ManualClock(0.0)  # the service clock: trace times are seconds from the first request
    market_clock = OffsetClock(clock, _EPOCH_MS / 1000.0)
    connectors = {(m.symbol, m.timeframe): ReplayConnector({m.symbol: _rebased(m, warmup)}, market_clock,
                                                           m.timeframe, name=f"replay:{m.symbol}")
                  for m in markets}
    with tempfile.TemporaryDirectory(prefix="service-trace-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'l3.sqlite'}"
        cache, _ = build_hierarchy(clock, redis_client(None), url)
        key_db = Database.from_url(url)
        try:
            feed, engine = build_strategy(MarketRouter(connectors), market_clock, cache)  # type: ignore[arg-type]
            pipeline = SignalPipeline(clock=clock, market_clock=market_clock, event_log=cache.event_log,
                                      auth=build_auth(KeyStore(key_db, clock), clock), cache=cache,
                                      feed=feed, engine=engine)
            capture = cache.capture = AccessCapture()
            counts = _serve(pipeline, clock, markets, n, rng, rate, alpha)
        finally:
            key_db.close()
            cache.close()
    return ServiceTrace(capture.to_trace(), n, counts, source)


def _serve(pipeline: SignalPipeline, clock: ManualClock, markets: list[Market], n: int,
           rng: np.random.Generator, rate: float, alpha: float) -> pd.DataFrame:
    """The request loop: arrival times, market choice, ``answer``; per-market requests and misses."""
    times = arrivals(n, rate, rng)
    choice = rng.choice(len(markets), size=n, p=_zipf_weights(len(markets), alpha, rng))
    served = np.zeros(len(markets), dtype=np.int64)
    misses = np.zeros(len(markets), dtype=np.int64)
    for i, (t, j) in enumerate(zip(times, choice, strict=True)):
        clock.set(float(t))
        m = markets[j]
        body = pipeline.answer(f"r{i}", m.symbol, m.timeframe)
        served[j] += 1
        misses[j] += not body["meta"]["cached"]
    return pd.DataFrame({"symbol": [m.symbol for m in markets], "timeframe": [m.timeframe for m in markets],
                         "requests": served, "signals computed": misses})


def as_workload(st: ServiceTrace, name: str = "service (captured)") -> Workload:
    """The trace as an adaptive-layer workload: keys are the hashed ids, times the service seconds."""
    return Workload(name, [format(int(k), "x") for k in st.trace.obj_id], st.trace.time.astype(np.float64),
                    {"requests": st.requests, "source": st.source})
