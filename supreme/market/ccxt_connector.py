"""Live exchanges through ccxt (sync), behind our connector interface and errors.

ccxt's own rate limiter sleeps in real time, which would break the one-clock rule, so when
the exchange has ``enableRateLimit`` on, this wrapper turns ccxt's limiter off and enforces
the same spacing itself -- at least ``exchange.rateLimit`` ms between calls -- by
``clock.sleep``.  Departure: ccxt weights some endpoints (Binance klines cost more than one
unit); we space every call by one unit, which is exact for most public endpoints.

ccxt exceptions become ours: ``BadSymbol`` -> :class:`UnknownSymbol`, ``NetworkError``
(timeouts, ``ExchangeNotAvailable``, ``DDoSProtection``, ``RateLimitExceeded``) ->
:class:`ExchangeUnavailable`, any other ``ccxt.BaseError`` -> :class:`ExchangeError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from supreme.clock import Clock
from supreme.market.connector import ExchangeError, ExchangeUnavailable, UnknownSymbol

__all__ = ["CcxtConnector", "make_exchange"]

T = TypeVar("T")


def make_exchange(exchange_id: str, **config: Any) -> Any:
    """A sync ccxt exchange by id (e.g. ``"binance"``); raises :class:`ExchangeError` for unknown ids."""
    try:
        import ccxt
    except ImportError as exc:  # ccxt is the optional "live" extra
        raise ExchangeError("ccxt is not installed; pip install 'supreme[live]'") from exc
    cls = getattr(ccxt, exchange_id, None)
    if exchange_id not in ccxt.exchanges or cls is None:
        raise ExchangeError(f"ccxt has no exchange {exchange_id!r}")
    return cls({"enableRateLimit": True, **config})


class CcxtConnector:
    """An :class:`~supreme.market.connector.ExchangeConnector` over a ccxt exchange instance."""

    def __init__(self, exchange: Any, clock: Clock) -> None:
        self.exchange = exchange
        self.clock = clock
        self.name = str(getattr(exchange, "id", type(exchange).__name__))
        # Take over ccxt's limiter: same spacing, but on our clock.
        self.min_interval = float(exchange.rateLimit) / 1000.0 if exchange.enableRateLimit else 0.0
        exchange.enableRateLimit = False
        self._last_call: float | None = None

    @property
    def symbols(self) -> list[str]:
        """Symbols of the loaded markets (loads them on first use)."""
        markets = self._call("load_markets", "*", self.exchange.load_markets)
        return sorted(markets)

    @property
    def timeframes(self) -> list[str]:
        """Timeframes the exchange declares."""
        return list((getattr(self.exchange, "timeframes", None) or {}).keys())

    def _throttle(self) -> None:
        if self.min_interval <= 0:
            return
        now = self.clock.now()
        if self._last_call is not None:
            wait = self._last_call + self.min_interval - now
            if wait > 0:
                self.clock.sleep(wait)
        self._last_call = self.clock.now()

    def _call(self, call: str, symbol: str, fn: Callable[..., T], *args: Any) -> T:
        import ccxt

        self._throttle()
        try:
            return fn(*args)
        except ccxt.BadSymbol as exc:
            raise UnknownSymbol(f"{self.name}: {call}: unknown symbol {symbol!r} ({exc})") from exc
        except ccxt.NetworkError as exc:
            raise ExchangeUnavailable(
                f"{self.name}: {call}({symbol}) failed: {type(exc).__name__}: {exc}"
            ) from exc
        except ccxt.BaseError as exc:
            raise ExchangeError(f"{self.name}: {call}({symbol}) failed: {type(exc).__name__}: {exc}") from exc

    def fetch_ohlcv(
        self, symbol: str, timeframe: str = "1m", since: int | None = None, limit: int | None = None
    ) -> list[list[float]]:
        """ccxt ``fetch_ohlcv``."""
        return self._call("fetch_ohlcv", symbol, self.exchange.fetch_ohlcv, symbol, timeframe, since, limit)

    def fetch_trades(
        self, symbol: str, since: int | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """ccxt ``fetch_trades``."""
        return self._call("fetch_trades", symbol, self.exchange.fetch_trades, symbol, since, limit)

    def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        """ccxt ``fetch_ticker``."""
        return self._call("fetch_ticker", symbol, self.exchange.fetch_ticker, symbol)
