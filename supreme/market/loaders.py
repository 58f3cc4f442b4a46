"""Loaders for the recorded-data formats researchers bring, returning ccxt's unified shapes.

OHLCV: ``timestamp`` (int64 ms since the epoch, UTC), ``open high low close volume`` (float64).
Trades: ``timestamp`` (int64 ms), ``symbol``, ``side`` (``"buy"``/``"sell"``, ``None`` when the
source does not record it), ``price``, ``amount`` (float64) and ``id`` (str or ``None``).

==========================  ===============================================================
format                      shape
==========================  ===============================================================
``csv``                     header ``timestamp,open,high,low,close,volume``; timestamps in
                            s, ms, µs, ns (by magnitude) or ISO 8601 (UTC unless zoned)
``csv-noheader``            the same six columns without a header
``binance-kline``           Binance public-data kline CSV: 12 columns, no header
``ccxt-json``               ``[[ts, o, h, l, c, v], ...]`` (also freqtrade's ``*.json``)
``parquet`` / ``feather``   OHLCV columns with ``timestamp`` (numeric or datetime) or
                            freqtrade's ``date`` (UTC datetime), or a DatetimeIndex
trades ``parquet``          Binance ``timestamp,trade_id,price,quantity,buyer_maker``
trades ``freqtrade``        feather or ``.json(.gz)``: ``timestamp,id,type,side,price,amount,cost``
trades ``kraken-csv``       ``unix_seconds,price,volume``, no header
trades ``tardis-csv``       Tardis.dev ``exchange,symbol,timestamp(µs),local_timestamp,id,side,price,amount``
trades ``binance-csv``      Binance public-data trades ``id,price,qty,quote_qty,time,is_buyer_maker,...``
trades ``csv``              header ``timestamp,symbol,side,price,amount[,id]``
==========================  ===============================================================

Every loader stages the file into raw columns (keeping the source line of each row) and
hands it to :mod:`supreme.market.validation`, which raises or drops-and-reports bad rows.
The returned frame carries its :class:`~supreme.market.validation.ValidationReport` in
``frame.attrs["report"]`` (see :func:`~supreme.market.validation.report_of`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from supreme.market.arrow_csv import ColumnKind, stage_csv_auto
from supreme.market.coerce import coerce_ohlcv, coerce_trades
from supreme.market.formats import (
    OHLCV_FORMATS,
    TRADE_FORMATS,
    detect_format,
    first_record,
    has_header,
    read_json,
    read_table,
    stage_csv,
    symbol_from_filename,
)
from supreme.market.validation import (
    OHLCV_COLUMNS,
    DataValidationError,
    OnError,
    validate_ohlcv,
    validate_trades,
)

__all__ = ["load_ohlcv", "load_trades"]

_TIME_ALIASES = ("timestamp", "date", "time", "datetime", "open_time")
_TARDIS_TRADES = ["exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount"]
_FREQTRADE_TRADES = ["timestamp", "id", "type", "side", "price", "amount", "cost"]
_BINANCE_TRADES = ["timestamp", "trade_id", "price", "quantity", "buyer_maker"]
_OHLCV_KINDS: dict[str, ColumnKind] = {"timestamp": "time", **{c: "number" for c in OHLCV_COLUMNS[1:]}}


# --------------------------------------------------------------------------- OHLCV


def _finish_ohlcv(
    raw: pd.DataFrame,
    source: str,
    *,
    lines: np.ndarray | None,
    problems: dict[int, str],
    on_error: OnError,
    timeframe: str | None,
    ts_unit: str | None = None,
    text_source: bool = False,
) -> pd.DataFrame:
    staged, _ = coerce_ohlcv(raw, problems, ts_unit=ts_unit, text_source=text_source)
    return validate_ohlcv(
        staged, source, lines=lines, parse_problems=problems, on_error=on_error, timeframe=timeframe
    )


def _header_columns(fields: list[str], source: str) -> list[str]:
    names = [f.strip().lower() for f in fields]
    renamed = ["timestamp" if n in _TIME_ALIASES and "timestamp" not in names else n for n in names]
    return renamed


def _load_ohlcv_csv(path: Path, source: str, header: bool, on_error: OnError, tf: str | None) -> pd.DataFrame:
    from supreme.market.validation import check_columns

    if header:
        columns = _header_columns(first_record(path), source)
        check_columns(columns, OHLCV_COLUMNS, source)
    else:
        columns = list(OHLCV_COLUMNS)
    raw, lines, problems = stage_csv_auto(path, columns, header=header, source=source, kinds=_OHLCV_KINDS)
    raw = raw[list(OHLCV_COLUMNS)]
    return _finish_ohlcv(
        raw, source, lines=lines, problems=problems, on_error=on_error, timeframe=tf, text_source=True
    )


def _load_binance_kline(path: Path, source: str, on_error: OnError, tf: str | None) -> pd.DataFrame:
    first = first_record(path)
    header = has_header(first)
    names = [*OHLCV_COLUMNS, *(f"extra{i}" for i in range(6))]
    raw, lines, problems = stage_csv_auto(path, names, header=header, source=source, kinds=_OHLCV_KINDS)
    for pos in list(problems):
        problems[pos] = problems[pos].replace("expected", "expected 12 (Binance kline),")
    raw = raw[list(OHLCV_COLUMNS)]
    return _finish_ohlcv(
        raw, source, lines=lines, problems=problems, on_error=on_error, timeframe=tf, text_source=True
    )


def _load_ccxt_json(path: Path, source: str, on_error: OnError, tf: str | None) -> pd.DataFrame:
    data = read_json(path)
    if not isinstance(data, list):
        raise DataValidationError(
            f"{source}: expected a JSON list of [timestamp, open, high, low, close, volume] rows, "
            f"got {type(data).__name__}",
            source=source,
        )
    problems: dict[int, str] = {}
    rows: list[list[Any]] = []
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != 6:
            size = len(row) if isinstance(row, list) else type(row).__name__
            problems[i] = f"has {size} values, expected 6 [timestamp, open, high, low, close, volume]"
            rows.append([None] * 6)
        else:
            rows.append(row)
    raw = pd.DataFrame(rows, columns=list(OHLCV_COLUMNS), dtype="object")
    return _finish_ohlcv(raw, source, lines=None, problems=problems, on_error=on_error, timeframe=tf)


def _load_ohlcv_table(path: Path, source: str, on_error: OnError, tf: str | None) -> pd.DataFrame:
    from supreme.market.validation import check_columns

    raw = read_table(path)
    columns = _header_columns([str(c) for c in raw.columns], source)
    raw.columns = pd.Index(columns)
    check_columns(columns, OHLCV_COLUMNS, source)
    return _finish_ohlcv(
        raw[list(OHLCV_COLUMNS)], source, lines=None, problems={}, on_error=on_error, timeframe=tf
    )


def load_ohlcv(
    path: str | Path,
    format: str = "auto",
    *,
    on_error: OnError = "raise",
    timeframe: str | None = None,
) -> pd.DataFrame:
    """Load candles from ``path`` into the unified OHLCV frame (report in ``attrs["report"]``).

    ``format="auto"`` picks by extension and first record (see :func:`detect_format`).
    ``timeframe`` (e.g. ``"1m"``) is inferred from the commonest spacing when not given and
    is used to report gaps.  Bad rows raise :class:`DataValidationError` naming the row, or
    with ``on_error="skip"`` are dropped and listed in the report.
    """
    p = Path(path)
    source = str(path)
    if not p.exists():
        raise FileNotFoundError(f"no such data file: {p}")
    fmt = detect_format(p, "ohlcv") if format == "auto" else format
    if fmt == "csv":
        return _load_ohlcv_csv(p, source, True, on_error, timeframe)
    if fmt == "csv-noheader":
        return _load_ohlcv_csv(p, source, False, on_error, timeframe)
    if fmt == "binance-kline":
        return _load_binance_kline(p, source, on_error, timeframe)
    if fmt in ("ccxt-json", "freqtrade-json", "json"):
        return _load_ccxt_json(p, source, on_error, timeframe)
    if fmt in ("parquet", "feather"):
        return _load_ohlcv_table(p, source, on_error, timeframe)
    raise ValueError(f"unknown OHLCV format {format!r}; expected 'auto' or one of {OHLCV_FORMATS}")


# --------------------------------------------------------------------------- trades


def _finish_trades(
    raw: pd.DataFrame,
    source: str,
    *,
    lines: np.ndarray | None,
    problems: dict[int, str],
    on_error: OnError,
    ts_unit: str | None = None,
) -> pd.DataFrame:
    staged, _ = coerce_trades(raw, problems, ts_unit=ts_unit)
    return validate_trades(staged, source, lines=lines, parse_problems=problems, on_error=on_error)


def _maker_to_side(values: pd.Series, source: str, problems: dict[int, str]) -> pd.Series:
    """Taker side from Binance's ``buyer_maker`` flag: a maker buyer means the taker sold."""
    text = values.astype("string").str.strip().str.lower()
    side = pd.Series(
        [{"true": "sell", "false": "buy"}.get(t) if isinstance(t, str) else None for t in text],
        dtype="object",
    )
    for pos in np.flatnonzero(~text.isin(["true", "false"]).to_numpy(dtype=bool, na_value=False)):
        problems.setdefault(int(pos), f"buyer_maker value {values.iloc[pos]!r} is not true/false")
    return side


def _with_symbol(raw: pd.DataFrame, symbol: str) -> pd.DataFrame:
    raw = raw.copy()
    raw["symbol"] = symbol
    return raw


def _load_trades_table(path: Path, source: str, symbol: str, on_error: OnError) -> pd.DataFrame:
    from supreme.market.validation import check_columns

    raw = read_table(path)
    cols = [str(c) for c in raw.columns]
    problems: dict[int, str] = {}
    if "buyer_maker" in cols:
        check_columns(cols, _BINANCE_TRADES, source)
        staged = pd.DataFrame(
            {
                "timestamp": raw["timestamp"],
                "side": _maker_to_side(raw["buyer_maker"], source, problems),
                "price": raw["price"],
                "amount": raw["quantity"],
                "id": raw["trade_id"],
            }
        )
    elif "type" in cols or "cost" in cols:
        check_columns(cols, _FREQTRADE_TRADES, source)
        staged = raw[["timestamp", "side", "price", "amount", "id"]]
    else:
        check_columns(cols, ["timestamp", "side", "price", "amount"], source, optional=["symbol", "id"])
        staged = raw.reindex(columns=["timestamp", "side", "price", "amount", "id", "symbol"])
        if "symbol" in cols:
            return _finish_trades(staged, source, lines=None, problems=problems, on_error=on_error)
    return _finish_trades(
        _with_symbol(staged, symbol), source, lines=None, problems=problems, on_error=on_error
    )


def _load_freqtrade_json(path: Path, source: str, symbol: str, on_error: OnError) -> pd.DataFrame:
    data = read_json(path)
    if not isinstance(data, list):
        raise DataValidationError(f"{source}: expected a JSON list of trades", source=source)
    problems: dict[int, str] = {}
    rows: list[list[Any]] = []
    for i, row in enumerate(data):
        if isinstance(row, dict):  # ccxt fetch_trades dumped as dicts
            rows.append([row.get(k) for k in ("timestamp", "id", "type", "side", "price", "amount", "cost")])
            if row.get("symbol"):
                symbol = str(row["symbol"])
        elif isinstance(row, list) and len(row) == 7:
            rows.append(row)
        else:
            size = len(row) if isinstance(row, list) else type(row).__name__
            problems[i] = f"has {size} values, expected 7 [timestamp, id, type, side, price, amount, cost]"
            rows.append([None] * 7)
    raw = pd.DataFrame(rows, columns=_FREQTRADE_TRADES, dtype="object")
    staged = _with_symbol(raw[["timestamp", "side", "price", "amount", "id"]], symbol)
    return _finish_trades(staged, source, lines=None, problems=problems, on_error=on_error)


def _load_trades_csv(path: Path, fmt: str, source: str, symbol: str, on_error: OnError) -> pd.DataFrame:
    from supreme.market.validation import check_columns

    problems: dict[int, str]
    if fmt == "kraken-csv":
        raw, lines, problems = stage_csv(path, ["timestamp", "price", "amount"], header=False, source=source)
        staged = _with_symbol(raw, symbol)
        staged["side"] = None  # Kraken's CSV does not say who was the taker
        staged["id"] = None
        return _finish_trades(staged, source, lines=lines, problems=problems, on_error=on_error, ts_unit="s")
    if fmt == "tardis-csv":
        check_columns([f.strip() for f in first_record(path)], _TARDIS_TRADES, source)
        raw, lines, problems = stage_csv(path, _TARDIS_TRADES, header=True, source=source)
        return _finish_trades(raw, source, lines=lines, problems=problems, on_error=on_error, ts_unit="us")
    if fmt == "binance-csv":
        first = first_record(path)
        header = has_header(first)
        names = ["id", "price", "amount", "quote", "timestamp", "buyer_maker", "best_match"][: len(first)]
        raw, lines, problems = stage_csv(path, names, header=header, source=source)
        raw = _with_symbol(raw, symbol)
        raw["side"] = _maker_to_side(raw["buyer_maker"], source, problems)
        return _finish_trades(raw, source, lines=lines, problems=problems, on_error=on_error)
    columns = [f.strip().lower() for f in first_record(path)]
    check_columns(columns, ["timestamp", "side", "price", "amount"], source, optional=["symbol", "id"])
    raw, lines, problems = stage_csv(path, columns, header=True, source=source)
    if "symbol" not in columns:
        raw = _with_symbol(raw, symbol)
    raw = raw.reindex(columns=["timestamp", "symbol", "side", "price", "amount", "id"])
    raw["side"] = raw["side"].where(raw["side"].astype("string").str.strip() != "", None)
    return _finish_trades(raw, source, lines=lines, problems=problems, on_error=on_error)


def load_trades(
    path: str | Path,
    format: str = "auto",
    *,
    symbol: str | None = None,
    on_error: OnError = "raise",
) -> pd.DataFrame:
    """Load trades from ``path`` into the unified trades frame (report in ``attrs["report"]``).

    ``symbol`` names the market when the file does not (default: from the file name, see
    :func:`symbol_from_filename`).
    """
    p = Path(path)
    source = str(path)
    if not p.exists():
        raise FileNotFoundError(f"no such data file: {p}")
    fmt = detect_format(p, "trades") if format == "auto" else format
    sym = symbol or symbol_from_filename(p)
    if fmt in ("parquet", "feather"):
        return _load_trades_table(p, source, sym, on_error)
    if fmt in ("freqtrade-json", "json"):
        return _load_freqtrade_json(p, source, sym, on_error)
    if fmt in ("csv", "kraken-csv", "tardis-csv", "binance-csv"):
        return _load_trades_csv(p, fmt, source, sym, on_error)
    raise ValueError(f"unknown trades format {format!r}; expected 'auto' or one of {TRADE_FORMATS}")
