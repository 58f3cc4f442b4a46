"""Record candles from any connector by paging ``fetch_ohlcv`` (used by ``supreme record``)."""

from __future__ import annotations

import math

import pandas as pd

from supreme.clock import Clock
from supreme.market.connector import ExchangeConnector, ExchangeUnavailable
from supreme.market.feed import ohlcv_frame
from supreme.market.timeframes import timeframe_ms
from supreme.market.validation import validate_ohlcv

__all__ = ["record_ohlcv"]


def record_ohlcv(
    connector: ExchangeConnector,
    symbol: str,
    timeframe: str,
    since: int,
    until: int | None = None,
    *,
    clock: Clock,
    page: int = 1000,
) -> pd.DataFrame:
    """Closed candles from ``since`` (ms) to ``until`` (ms, exclusive; default now), validated.

    Raises :class:`ExchangeUnavailable` with a plain message when the network is down.
    """
    step = timeframe_ms(timeframe)
    now_ms = math.floor(clock.now() * 1000)
    end = min(until, now_ms) if until is not None else now_ms
    rows: list[list[float]] = []
    cursor = since
    while cursor < end:
        try:
            batch = connector.fetch_ohlcv(symbol, timeframe, cursor, page)
        except ExchangeUnavailable as exc:
            raise ExchangeUnavailable(
                f"cannot reach {connector.name} to record {symbol} (is the network up?): {exc}"
            ) from exc
        batch = [r for r in batch if int(r[0]) >= cursor and int(r[0]) < end and int(r[0]) + step <= now_ms]
        if not batch:
            break
        rows.extend(batch)
        cursor = int(batch[-1][0]) + step
    frame = ohlcv_frame(rows)
    staged = frame.astype({"timestamp": "float64"})
    return validate_ohlcv(staged, f"{connector.name} {symbol} {timeframe}", timeframe=timeframe)
