"""Exchange-connector errors and rate limits on a recorded feed: the real connector, retry and cache.

A recording's candles are served by :class:`RecordedExchange`, a ccxt-shaped exchange object (no
network) that the real :class:`~supreme.market.ccxt_connector.CcxtConnector` wraps, so ccxt's own
exception classes go through the connector's real mapping: inside a ``faults.exchange.error_*``
window a call raises ``ccxt.ExchangeNotAvailable`` with probability ``error_rate`` (a seeded
``numpy`` generator); inside a ``faults.ratelimit.down_*`` window every call raises
``ccxt.RateLimitExceeded``.  Both become :class:`~supreme.market.connector.ExchangeUnavailable`,
which :func:`supreme.builders.exchange_retry` (full-jitter backoff on the clock, the ``exchange``
breaker) retries.  A client asks the real :class:`~supreme.market.feed.MarketDataFeed` for the
newest ``limit`` closed candles every ``interval`` s; the feed goes through the real cache manager
(L1, L2 on ``redis_url``, L3 on ``database_url``).  Afterwards every entry L3 holds is read back
from L2 (``lost`` counts those that differ).

Departure: as in the ``ws_streaming`` model, the recording is replayed on a compressed grid — candle
``k`` closes at ``k - limit + 1`` s — so the run's clock is the scenario's own (seconds ``0 …
duration``) and the breaker's and the retry's seconds mean the same in both worlds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from supreme.builders import build_manager, exchange_retry
from supreme.cache.tiers.memory import MemoryTier
from supreme.cache.tiers.redis_tier import RedisTier
from supreme.cache.tiers.sql_tier import SqlTier
from supreme.clock import Clock, ManualClock
from supreme.events import NULL_LOG, EventLog
from supreme.market.ccxt_connector import CcxtConnector
from supreme.market.connector import WrappedConnector
from supreme.market.feed import MarketDataFeed
from supreme.replay.sources import Stream
from supreme.resilience.fault_schedule import FaultSchedule
from supreme.resilience.retry import Retry

__all__ = ["ExchangeRun", "RecordedExchange", "RetryingConnector", "replay_exchange_faults"]

FLOW = "fault_injection"


class RecordedExchange:
    """A ccxt-shaped exchange over recorded candles, "as of" the clock, failing on the schedule."""

    id = "recorded"
    rateLimit = 50  # ms between calls; CcxtConnector takes the limiter over, on the clock
    enableRateLimit = True

    def __init__(self, frame: pd.DataFrame, symbol: str, clock: Clock, schedule: FaultSchedule,
                 seed: int = 0, event_log: EventLog = NULL_LOG) -> None:
        self.rows = frame[["timestamp", "open", "high", "low", "close", "volume"]].to_numpy(dtype=float)
        self.symbol = symbol
        self.clock = clock
        self.schedule = schedule
        self.rng = np.random.default_rng(seed)
        self.timeframes = {"1s": "1s"}
        self.event_log = event_log
        self.calls = self.failures = 0

    def _fail(self, now: float, outcome: str) -> None:
        self.failures += 1
        self.event_log.record(now, FLOW, "Exchange", "fetch", outcome, key=self.symbol)

    def load_markets(self) -> dict[str, Any]:
        """One market: the recording's symbol."""
        return {self.symbol: {"symbol": self.symbol}}

    def fetch_ohlcv(self, symbol: str, timeframe: str = "1s", since: int | None = None,
                    limit: int | None = None) -> list[list[float]]:
        """Candles visible at the clock's time, or the ccxt error the schedule says."""
        import ccxt

        self.calls += 1
        now = self.clock.now()
        if not self.schedule.state("ratelimit", now).up:
            self._fail(now, "rate_limited")
            raise ccxt.RateLimitExceeded(f"{self.id} 429 Too Many Requests (t={now:.2f})")
        if self.schedule.affects("exchange") and self.schedule.fails("exchange", now, self.rng):
            self._fail(now, "error")
            raise ccxt.ExchangeNotAvailable(f"{self.id} 503 Service Unavailable (t={now:.2f})")
        if symbol != self.symbol:
            raise ccxt.BadSymbol(f"{self.id} does not have market symbol {symbol}")
        visible = self.rows[self.rows[:, 0] <= now * 1000.0]  # opened by now (the feed drops the forming one)
        out = visible[-limit:] if limit else visible
        return [[int(r[0]), *map(float, r[1:])] for r in out]


class RetryingConnector(WrappedConnector):
    """An exchange connector whose ``fetch_ohlcv`` goes through a :class:`Retry` (and its breaker)."""

    def __init__(self, inner: CcxtConnector, retry: Retry) -> None:
        super().__init__(inner)
        self.retry = retry

    def fetch_ohlcv(self, symbol: str, timeframe: str = "1m", since: int | None = None,
                    limit: int | None = None) -> list[list[float]]:
        """The inner ``fetch_ohlcv`` with retries."""
        return self.retry.call(self.inner.fetch_ohlcv, symbol, timeframe, since, limit)

    def fetch_trades(self, symbol: str, since: int | None = None, limit: int | None = None) -> list[Any]:
        """The inner ``fetch_trades`` with retries."""
        return self.retry.call(self.inner.fetch_trades, symbol, since, limit)

    def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        """The inner ``fetch_ticker`` with retries."""
        return self.retry.call(self.inner.fetch_ticker, symbol)


@dataclass
class ExchangeRun:
    """What the run produced: its event log (scenario seconds) and its summary."""

    event_log: EventLog
    summary: dict[str, Any]


def _stored_keys(l3: SqlTier) -> list[str]:
    rows = l3.database().execute(f"SELECT key FROM {l3.table} WHERE key LIKE ?", (l3.namespace + "%",))
    return [str(k)[len(l3.namespace):] for (k,) in rows]


def replay_exchange_faults(stream: Stream, faults: Mapping[str, Any], *, redis_url: str, database_url: str,
                           namespace: str, duration: float = 120.0, interval: float = 0.2, limit: int = 50,
                           seed: int = 0) -> ExchangeRun:
    """Clients ask the feed for candles every ``interval`` s while ``faults`` hit the exchange."""
    import redis as redis_py

    from supreme.errors import SupremeError
    from supreme.resilience.breaker import CallNotPermitted

    if interval <= 0 or duration <= 0 or limit < 1:
        raise ValueError(f"need interval > 0, duration > 0, limit >= 1; got {interval}, {duration}, {limit}")
    need = int(duration) + limit + 2
    if len(stream.frame) < need:
        raise ValueError(f"{stream.symbol}: {len(stream.frame)} candles, the run needs {need}")
    frame = stream.frame.iloc[:need].reset_index(drop=True).copy()
    frame["timestamp"] = (np.arange(need, dtype=np.int64) - limit) * 1000  # the compressed grid
    log = EventLog(world="real")
    clock = ManualClock(0.0)
    schedule = FaultSchedule.from_scenario(faults, clock=clock, event_log=log)
    exchange = RecordedExchange(frame, stream.symbol, clock, schedule, seed, event_log=log)
    retry = exchange_retry(clock, event_log=log, seed=seed)
    client = redis_py.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    l3 = SqlTier(database_url, clock=clock, namespace=namespace)
    cache, _ = build_manager(clock, MemoryTier("lru", clock=clock, capacity=10_000),
                             RedisTier(client, namespace=f"{namespace}cache:"), l3, event_log=log,
                             default_ttl=None)
    feed = MarketDataFeed(RetryingConnector(CcxtConnector(exchange, clock), retry), clock, cache=cache,
                          event_log=log, exchange="recorded")
    sent = answered = failed = wrong = 0
    try:
        for n in range(int(duration / interval)):
            t = n * interval
            if clock.now() < t:
                clock.set(t)
            schedule.apply()
            rid = f"x{n + 1}"
            sent += 1
            log.record(clock.now(), FLOW, "Client", "request", request_id=rid, key=stream.symbol)
            try:
                got = feed.get_ohlcv(stream.symbol, "1s", limit, request_id=rid, flow=FLOW)
            except (SupremeError, CallNotPermitted) as exc:
                failed += 1
                log.record(clock.now(), FLOW, "Client", "answer", "failed", request_id=rid, key=stream.symbol,
                           detail=f"{type(exc).__name__}: {exc}"[:160])
                continue
            want = frame[(frame["timestamp"] + 1000) <= clock.now() * 1000.0].tail(limit)
            right = np.allclose(got["close"].to_numpy(dtype=float), want["close"].to_numpy(dtype=float))
            answered += 1
            wrong += not right
            log.record(clock.now(), FLOW, "Client", "answer", "ok" if right else "error", request_id=rid,
                       key=stream.symbol)
        clock.set(max(clock.now(), duration))
        schedule.apply()
        flushed = cache.flush_pending()
        l2, l3t = cache.tiers[1], cache.tiers[2]
        keys = _stored_keys(l3)
        lost = sum(1 for k in keys if l2.peek(k) != l3t.peek(k))
    finally:
        cache.close()
        client.close()
    summary = {"sent": sent, "answered": answered, "failed": failed, "wrong": wrong,
               "exchange_calls": exchange.calls, "exchange_failures": exchange.failures,
               "retries": len(retry.delays), "l3_entries": len(keys), "flushed": flushed, "lost": lost,
               "breaker": retry.breaker.state.value if retry.breaker else "-"}
    return ExchangeRun(log, summary)
