"""Recorded files larger than memory, loaded chunk by chunk into validated unified frames.

:func:`iter_ohlcv_chunks` and :func:`iter_trades_chunks` stage a file the way
:func:`~supreme.market.loaders.load_ohlcv` / :func:`~supreme.market.loaders.load_trades` do (the
same per-format plans, coercion and validation), but a chunk of about ``chunk_rows`` rows at a
time: CSV through pyarrow's streaming reader (:mod:`supreme.market.arrow_csv`; the stdlib reader
when the file has quotes), Parquet through ``ParquetFile.iter_batches`` and feather through Arrow
IPC record batches.  JSON cannot be streamed and comes as one chunk.

Each chunk is validated with a :class:`~supreme.market.validation.Continuation` from the chunks
before it, so:

* rows keep their file-wide numbers (``row 100001 (line 100002)``), in errors and reports;
* a duplicate, out-of-order or missing candle *across* a chunk boundary is reported like one
  inside a chunk (an error naming file and row, or with ``on_error="skip"`` a dropped row and a
  gap in the report) -- never re-ordered;
* the timestamp unit of numeric times and the timeframe are decided on the first chunk.

Each frame's ``attrs["report"]`` covers that chunk (its ``rows_read``; issues with file-wide
rows; gaps including one that starts at the previous chunk's last candle).  With
``on_error="raise"`` the error names the first bad row of the chunk that holds it; its count of
further bad rows covers that chunk only.  Duplicate trade ids are found within a chunk and against
the chunk before it (a window, so memory stays bounded).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from supreme.market.arrow_csv import arrow_can_stage, stage_csv_chunks
from supreme.market.coerce import coerce_ohlcv, coerce_trades
from supreme.market.formats import (
    OHLCV_FORMATS,
    TRADE_FORMATS,
    iter_stage_csv,
    normalise_table,
    open_source,
    symbol_from_filename,
)
from supreme.market.loaders import (
    CsvPlan,
    load_ohlcv,
    load_trades,
    ohlcv_csv_plan,
    ohlcv_table_stage,
    trades_csv_plan,
    trades_table_stage,
)
from supreme.market.validation import Continuation, OnError, report_of, validate_ohlcv, validate_trades

__all__ = ["DEFAULT_CHUNK_ROWS", "iter_ohlcv_chunks", "iter_trades_chunks"]

DEFAULT_CHUNK_ROWS = 250_000
_NUMERIC_UNITS = ("s", "ms", "us", "ns")


def _csv_pieces(
    path: Path, plan: CsvPlan, chunk_rows: int
) -> Iterator[tuple[pd.DataFrame, np.ndarray, dict[int, str]]]:
    """``(raw, lines, problems)`` per chunk, by pyarrow when it can stage the file, else the stdlib."""
    if arrow_can_stage(path):
        for staged in stage_csv_chunks(
            path, plan.columns, header=plan.header, kinds=plan.kinds, chunk_rows=chunk_rows
        ):
            yield staged.raw, staged.lines, staged.problems
    else:
        yield from iter_stage_csv(path, plan.columns, header=plan.header, chunk_rows=chunk_rows)


def _table_pieces(path: Path, chunk_rows: int, fmt: str) -> Iterator[pd.DataFrame]:
    """A Parquet or feather file as frames of ``chunk_rows`` rows (never the whole file at once)."""
    batches: Iterator[pa.RecordBatch]
    if fmt == "parquet":
        batches = pq.ParquetFile(path).iter_batches(batch_size=chunk_rows)
    else:
        reader = ipc.open_file(path)
        batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        while count >= chunk_rows:
            table = pa.Table.from_batches(pending)
            yield normalise_table(table.slice(0, chunk_rows).to_pandas())
            rest = table.slice(chunk_rows)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield normalise_table(pa.Table.from_batches(pending).to_pandas())


class _Carry:
    """What a chunk hands the next: rows so far, last kept time, timeframe, time unit, last ids."""

    def __init__(self, timeframe: str | None, ts_unit: str | None) -> None:
        self.rows = 0
        self.last_ms: int | None = None
        self.timeframe = timeframe
        self.ts_unit = ts_unit
        self.ids: frozenset[str] = frozenset()

    def continuation(self) -> Continuation:
        return Continuation(rows_before=self.rows, last_ms=self.last_ms, ids=self.ids)

    def advance(self, frame: pd.DataFrame, rows_read: int, unit: str) -> None:
        self.rows += rows_read
        if len(frame):
            self.last_ms = int(frame["timestamp"].iloc[-1])
        if self.ts_unit is None and unit in _NUMERIC_UNITS:
            self.ts_unit = unit
        report = report_of(frame)
        if self.timeframe is None and report is not None:
            self.timeframe = report.timeframe
        if "id" in frame:
            self.ids = frozenset(str(i) for i in frame["id"] if i is not None)


def _check_chunk_rows(chunk_rows: int) -> None:
    if int(chunk_rows) < 1:
        raise ValueError(f"chunk_rows must be a positive number of rows, got {chunk_rows!r}")


def iter_ohlcv_chunks(
    path: str | Path,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    *,
    format: str = "auto",
    on_error: OnError = "raise",
    timeframe: str | None = None,
) -> Iterator[pd.DataFrame]:
    """Unified OHLCV frames of about ``chunk_rows`` rows each, validated as one file (see module doc)."""
    _check_chunk_rows(chunk_rows)
    p, source, fmt = open_source(path, "ohlcv", format)
    if fmt in ("ccxt-json", "freqtrade-json", "json"):
        yield load_ohlcv(p, fmt, on_error=on_error, timeframe=timeframe)
        return
    carry = _Carry(timeframe, None)
    if fmt in ("csv", "csv-noheader", "binance-kline"):
        plan = ohlcv_csv_plan(p, fmt, source)
        for raw, lines, problems in _csv_pieces(p, plan, chunk_rows):
            staged, unit = coerce_ohlcv(
                plan.post(raw, problems), problems, ts_unit=carry.ts_unit, text_source=True
            )
            frame = validate_ohlcv(
                staged,
                source,
                lines=lines,
                parse_problems=problems,
                on_error=on_error,
                timeframe=carry.timeframe,
                after=carry.continuation(),
            )
            carry.advance(frame, len(staged), unit)
            yield frame
        return
    if fmt not in ("parquet", "feather"):
        raise ValueError(f"unknown OHLCV format {format!r}; expected 'auto' or one of {OHLCV_FORMATS}")
    for raw in _table_pieces(p, chunk_rows, fmt):
        found: dict[int, str] = {}
        staged, unit = coerce_ohlcv(ohlcv_table_stage(raw, source), found, ts_unit=carry.ts_unit)
        frame = validate_ohlcv(
            staged,
            source,
            parse_problems=found,
            on_error=on_error,
            timeframe=carry.timeframe,
            after=carry.continuation(),
        )
        carry.advance(frame, len(staged), unit)
        yield frame


def iter_trades_chunks(
    path: str | Path,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    *,
    format: str = "auto",
    symbol: str | None = None,
    on_error: OnError = "raise",
) -> Iterator[pd.DataFrame]:
    """Unified trades frames of about ``chunk_rows`` rows each, validated as one file (see module doc)."""
    _check_chunk_rows(chunk_rows)
    p, source, fmt = open_source(path, "trades", format)
    sym = symbol or symbol_from_filename(p)
    if fmt in ("freqtrade-json", "json"):
        yield load_trades(p, fmt, symbol=sym, on_error=on_error)
        return
    if fmt in ("csv", "kraken-csv", "tardis-csv", "binance-csv"):
        plan = trades_csv_plan(p, fmt, source, sym)
        carry = _Carry(None, plan.ts_unit)
        for raw, lines, problems in _csv_pieces(p, plan, chunk_rows):
            staged, unit = coerce_trades(plan.post(raw, problems), problems, ts_unit=carry.ts_unit)
            frame = validate_trades(
                staged,
                source,
                lines=lines,
                parse_problems=problems,
                on_error=on_error,
                after=carry.continuation(),
            )
            carry.advance(frame, len(staged), unit)
            yield frame
        return
    if fmt not in ("parquet", "feather"):
        raise ValueError(f"unknown trades format {format!r}; expected 'auto' or one of {TRADE_FORMATS}")
    carry = _Carry(None, None)
    for raw in _table_pieces(p, chunk_rows, fmt):
        found: dict[int, str] = {}
        stage = trades_table_stage(raw, source, sym, found)
        staged, unit = coerce_trades(stage, found, ts_unit=carry.ts_unit)
        frame = validate_trades(
            staged, source, parse_problems=found, on_error=on_error, after=carry.continuation()
        )
        carry.advance(frame, len(staged), unit)
        yield frame
