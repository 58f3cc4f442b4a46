"""The exchange-connector interface (ccxt's unified method shapes) and its errors.

Exception tree::

    SupremeError
    └── ExchangeError
        ├── ExchangeUnavailable      network failure, timeout, disconnect (retry may help)
        └── UnknownSymbol            also a KeyError: the exchange has no such market

Implementations: :class:`~supreme.market.ccxt_connector.CcxtConnector` (live, via ccxt),
:class:`~supreme.market.replay.ReplayConnector` (recorded data "as of" the clock) and
:class:`~supreme.market.faulty_connector.FaultyConnector` (latency, errors and disconnects around either).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from supreme.errors import SupremeError

__all__ = ["ExchangeConnector", "ExchangeError", "ExchangeUnavailable", "UnknownSymbol", "WrappedConnector"]


class ExchangeError(SupremeError):
    """An exchange call failed; the message names the exchange, the call and the symbol."""


class ExchangeUnavailable(ExchangeError):
    """The exchange could not be reached (network error, timeout, disconnect window)."""


class UnknownSymbol(ExchangeError, KeyError):
    """The exchange lists no market with this symbol."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else ""


@runtime_checkable
class ExchangeConnector(Protocol):
    """What the feed needs from an exchange, in ccxt's unified shapes."""

    name: str

    @property
    def symbols(self) -> list[str]:
        """Markets the connector can answer for."""
        ...

    @property
    def timeframes(self) -> list[str]:
        """Candle timeframes it serves (``"1m"``, ``"1h"`` …)."""
        ...

    def fetch_ohlcv(
        self, symbol: str, timeframe: str = "1m", since: int | None = None, limit: int | None = None
    ) -> list[list[float]]:
        """Candles ``[ts_ms, open, high, low, close, volume]``, oldest first; ``since`` in ms inclusive."""
        ...

    def fetch_trades(
        self, symbol: str, since: int | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Trades as ccxt dicts (``timestamp``, ``symbol``, ``side``, ``price``, ``amount``, ``id`` …)."""
        ...

    def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        """The latest ticker (``symbol``, ``timestamp``, ``last``, ``bid``, ``ask``, ``baseVolume`` …)."""
        ...


class WrappedConnector:
    """Base of a connector that wraps another (faults, retries): forwards the name and the catalogue."""

    def __init__(self, inner: ExchangeConnector) -> None:
        self.inner = inner
        self.name = inner.name

    @property
    def symbols(self) -> list[str]:
        """The inner connector's symbols."""
        return self.inner.symbols

    @property
    def timeframes(self) -> list[str]:
        """The inner connector's timeframes."""
        return self.inner.timeframes
