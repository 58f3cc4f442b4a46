"""A fault-injecting wrapper around any exchange connector: latency, random errors, disconnects.

Each call, in order: (1) inside a disconnect window ``[start, end)`` (clock seconds; a ``down``
:class:`~supreme.resilience.fault_schedule.FaultWindow`) it raises :class:`ExchangeUnavailable` at
once; (2) it waits the latency with ``clock.sleep`` (so under a ManualClock or SimPy clock the
latency is simulated, not slept); (3) with probability
``error_rate`` it raises an injected error; (4) otherwise it forwards to the inner connector.
Chance comes from one seeded ``numpy.random.Generator``: the same seed and the same call
sequence give the same faults.  Every fault is recorded in the event log (flow
``fault_injection``, component ``Chaos_Engine``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from supreme.clock import Clock
from supreme.events import NULL_LOG, EventLog
from supreme.market.connector import ExchangeConnector, ExchangeUnavailable, WrappedConnector
from supreme.resilience.fault_schedule import FaultWindow

__all__ = ["FaultyConnector", "InjectedFault"]

Latency = float | Callable[[np.random.Generator], float]


class InjectedFault(ExchangeUnavailable):
    """A random error raised on purpose by :class:`FaultyConnector`."""


class FaultyConnector(WrappedConnector):
    """Wraps ``inner`` and injects latency, seeded random errors and scheduled disconnects."""

    def __init__(
        self,
        inner: ExchangeConnector,
        clock: Clock,
        seed: int,
        *,
        latency: Latency = 0.0,
        error_rate: float = 0.0,
        disconnect_windows: Sequence[tuple[float, float]] = (),
        event_log: EventLog = NULL_LOG,
    ) -> None:
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"error_rate must be in [0, 1], got {error_rate}")
        if not callable(latency) and latency < 0:
            raise ValueError(f"latency must be >= 0 seconds, got {latency}")
        super().__init__(inner)
        self.name = f"faulty({inner.name})"
        self.clock = clock
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.latency = latency
        self.error_rate = float(error_rate)
        # an empty window (start == end) covers nothing; one that ends before it starts is an error
        self.disconnect_windows = [FaultWindow.between(self.name, float(a), float(b))
                                   for a, b in disconnect_windows if a != b]
        self.event_log = event_log
        self.calls = 0
        self.faults: list[tuple[float, str, str]] = []  # (time, call, kind)

    def last_closed_ms(self, symbol: str, timeframe: str | None = None) -> int | None:
        """Forwarded without faults: it is bookkeeping on the clock, not an exchange call."""
        probe = getattr(self.inner, "last_closed_ms", None)
        return None if probe is None else probe(symbol, timeframe)

    def _fault(self, call: str, kind: str, symbol: str) -> None:
        now = self.clock.now()
        self.faults.append((now, call, kind))
        self.event_log.record(now, "fault_injection", "Chaos_Engine", "inject", kind, key=f"{call}:{symbol}")

    def _before(self, call: str, symbol: str) -> None:
        self.calls += 1
        now = self.clock.now()
        for w in self.disconnect_windows:
            if w.covers(now):
                self._fault(call, "disconnect", symbol)
                raise ExchangeUnavailable(
                    f"{self.name}: {call}({symbol}) disconnected from t={w.start} to t={w.end} (now {now})"
                )
        delay = self.latency(self.rng) if callable(self.latency) else self.latency
        if delay > 0:
            self.clock.sleep(delay)
        # Draw on every call (even at error_rate 0) so the faults depend only on seed and calls.
        if self.rng.random() < self.error_rate:
            self._fault(call, "error", symbol)
            raise InjectedFault(f"{self.name}: {call}({symbol}) failed: injected error (seed {self.seed})")

    def fetch_ohlcv(
        self, symbol: str, timeframe: str = "1m", since: int | None = None, limit: int | None = None
    ) -> list[list[float]]:
        """Inner ``fetch_ohlcv`` after the faults."""
        self._before("fetch_ohlcv", symbol)
        return self.inner.fetch_ohlcv(symbol, timeframe, since, limit)

    def fetch_trades(
        self, symbol: str, since: int | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Inner ``fetch_trades`` after the faults."""
        self._before("fetch_trades", symbol)
        return self.inner.fetch_trades(symbol, since, limit)

    def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        """Inner ``fetch_ticker`` after the faults."""
        self._before("fetch_ticker", symbol)
        return self.inner.fetch_ticker(symbol)
