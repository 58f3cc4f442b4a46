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

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from supreme.market.arrow_csv import ColumnKind, stage_csv_auto
from supreme.market.coerce import coerce_ohlcv, coerce_trades
from supreme.market.formats import (
    OHLCV_FORMATS,
    TRADE_FORMATS,
    first_record,
    has_header,
    open_source,
    read_json,
    read_table,
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
# ohlcv_csv_plan, trades_csv_plan, ohlcv_table_stage and trades_table_stage are shared with
# supreme.market.chunks (the same staging, one chunk at a time), not part of the package API.

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


@dataclass(frozen=True)
class CsvPlan:
    """How one CSV format is staged: its fields, header, column kinds, time unit, and the last touch
    that turns staged fields into the columns coercion expects (run once per staged chunk)."""

    columns: list[str]
    header: bool
    kinds: dict[str, ColumnKind]
    post: Callable[[pd.DataFrame, dict[int, str]], pd.DataFrame]
    ts_unit: str | None = None


def _ohlcv_only(raw: pd.DataFrame, problems: dict[int, str]) -> pd.DataFrame:
    return raw[list(OHLCV_COLUMNS)]


def _kline_post(raw: pd.DataFrame, problems: dict[int, str]) -> pd.DataFrame:
    for pos in list(problems):
        problems[pos] = problems[pos].replace("expected", "expected 12 (Binance kline),")
    return raw[list(OHLCV_COLUMNS)]


def ohlcv_csv_plan(path: Path, fmt: str, source: str) -> CsvPlan:
    """The staging plan of an OHLCV CSV (``csv``, ``csv-noheader`` or ``binance-kline``)."""
    from supreme.market.validation import check_columns

    if fmt == "binance-kline":
        names = [*OHLCV_COLUMNS, *(f"extra{i}" for i in range(6))]
        return CsvPlan(names, has_header(first_record(path)), _OHLCV_KINDS, _kline_post)
    if fmt == "csv":
        columns = _header_columns(first_record(path), source)
        check_columns(columns, OHLCV_COLUMNS, source)
        return CsvPlan(columns, True, _OHLCV_KINDS, _ohlcv_only)
    return CsvPlan(list(OHLCV_COLUMNS), False, _OHLCV_KINDS, _ohlcv_only)


def _load_ohlcv_csv(path: Path, fmt: str, source: str, on_error: OnError, tf: str | None) -> pd.DataFrame:
    plan = ohlcv_csv_plan(path, fmt, source)
    raw, lines, problems = stage_csv_auto(
        path, plan.columns, header=plan.header, source=source, kinds=plan.kinds
    )
    raw = plan.post(raw, problems)
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


def ohlcv_table_stage(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    """The OHLCV columns of a Parquet/feather table (time column aliases renamed), checked."""
    from supreme.market.validation import check_columns

    columns = _header_columns([str(c) for c in raw.columns], source)
    raw = raw.set_axis(pd.Index(columns), axis=1)
    check_columns(columns, OHLCV_COLUMNS, source)
    return raw[list(OHLCV_COLUMNS)]


def _load_ohlcv_table(path: Path, source: str, on_error: OnError, tf: str | None) -> pd.DataFrame:
    raw = ohlcv_table_stage(read_table(path), source)
    return _finish_ohlcv(raw, source, lines=None, problems={}, on_error=on_error, timeframe=tf)


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
    p, source, fmt = open_source(path, "ohlcv", format)
    if fmt in ("csv", "csv-noheader", "binance-kline"):
        return _load_ohlcv_csv(p, fmt, source, on_error, timeframe)
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


def trades_table_stage(raw: pd.DataFrame, source: str, symbol: str, problems: dict[int, str]) -> pd.DataFrame:
    """The trades columns of a Parquet/feather table (Binance, freqtrade or unified), checked."""
    from supreme.market.validation import check_columns

    cols = [str(c) for c in raw.columns]
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
            return staged
    return _with_symbol(staged, symbol)


def _load_trades_table(path: Path, source: str, symbol: str, on_error: OnError) -> pd.DataFrame:
    problems: dict[int, str] = {}
    staged = trades_table_stage(read_table(path), source, symbol, problems)
    return _finish_trades(staged, source, lines=None, problems=problems, on_error=on_error)


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


def trades_csv_plan(path: Path, fmt: str, source: str, symbol: str) -> CsvPlan:
    """The staging plan of a trades CSV (``kraken-csv``, ``tardis-csv``, ``binance-csv`` or ``csv``)."""
    from supreme.market.validation import check_columns

    kinds: dict[str, ColumnKind] = {"timestamp": "time", "price": "number", "amount": "number"}
    if fmt == "kraken-csv":

        def kraken(raw: pd.DataFrame, problems: dict[int, str]) -> pd.DataFrame:
            staged = _with_symbol(raw, symbol)
            staged["side"] = None  # Kraken's CSV does not say who was the taker
            staged["id"] = None
            return staged

        return CsvPlan(["timestamp", "price", "amount"], False, kinds, kraken, ts_unit="s")
    if fmt == "tardis-csv":
        check_columns([f.strip() for f in first_record(path)], _TARDIS_TRADES, source)
        return CsvPlan(list(_TARDIS_TRADES), True, kinds, lambda raw, problems: raw, ts_unit="us")
    if fmt == "binance-csv":
        first = first_record(path)
        names = ["id", "price", "amount", "quote", "timestamp", "buyer_maker", "best_match"][: len(first)]

        def binance(raw: pd.DataFrame, problems: dict[int, str]) -> pd.DataFrame:
            raw = _with_symbol(raw, symbol)
            raw["side"] = _maker_to_side(raw["buyer_maker"], source, problems)
            return raw

        return CsvPlan(names, has_header(first), kinds, binance)
    columns = [f.strip().lower() for f in first_record(path)]
    check_columns(columns, ["timestamp", "side", "price", "amount"], source, optional=["symbol", "id"])

    def unified(raw: pd.DataFrame, problems: dict[int, str]) -> pd.DataFrame:
        if "symbol" not in columns:
            raw = _with_symbol(raw, symbol)
        raw = raw.reindex(columns=["timestamp", "symbol", "side", "price", "amount", "id"])
        raw["side"] = raw["side"].where(raw["side"].astype("string").str.strip() != "", None)
        return raw

    return CsvPlan(columns, True, kinds, unified)


def _load_trades_csv(path: Path, fmt: str, source: str, symbol: str, on_error: OnError) -> pd.DataFrame:
    plan = trades_csv_plan(path, fmt, source, symbol)
    raw, lines, problems = stage_csv_auto(
        path, plan.columns, header=plan.header, source=source, kinds=plan.kinds
    )
    staged = plan.post(raw, problems)
    return _finish_trades(
        staged, source, lines=lines, problems=problems, on_error=on_error, ts_unit=plan.ts_unit
    )


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
    p, source, fmt = open_source(path, "trades", format)
    sym = symbol or symbol_from_filename(p)
    if fmt in ("parquet", "feather"):
        return _load_trades_table(p, source, sym, on_error)
    if fmt in ("freqtrade-json", "json"):
        return _load_freqtrade_json(p, source, sym, on_error)
    if fmt in ("csv", "kraken-csv", "tardis-csv", "binance-csv"):
        return _load_trades_csv(p, fmt, source, sym, on_error)
    raise ValueError(f"unknown trades format {format!r}; expected 'auto' or one of {TRADE_FORMATS}")
