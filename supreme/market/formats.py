"""Recorded-file access and format detection for the loaders: open (gzip too), sniff, name.

:func:`detect_format` picks a loader by extension and first record; :func:`symbol_from_filename`
names a recording's symbol the way exchanges' dump files are named.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from supreme.market.validation import DataValidationError

__all__ = [
    "OHLCV_FORMATS",
    "TRADE_FORMATS",
    "detect_format",
    "first_record",
    "has_header",
    "iter_stage_csv",
    "normalise_table",
    "read_json",
    "read_table",
    "stage_csv",
    "symbol_from_filename",
]

OHLCV_FORMATS = ("csv", "csv-noheader", "binance-kline", "ccxt-json", "parquet", "feather")
TRADE_FORMATS = ("csv", "parquet", "feather", "freqtrade-json", "kraken-csv", "tardis-csv", "binance-csv")


# --------------------------------------------------------------------------- file access


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """``(line, fields)`` for each non-blank CSV record."""
    with _open_text(path) as fh:
        reader = csv.reader(fh)
        for fields in reader:
            if not fields or all(not f.strip() for f in fields):
                continue
            yield reader.line_num, fields


def first_record(path: Path) -> list[str]:
    for _, fields in _csv_rows(path):
        return fields
    return []


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def has_header(fields: list[str]) -> bool:
    return bool(fields) and not _is_number(fields[0])


def iter_stage_csv(
    path: Path, columns: list[str], *, header: bool, chunk_rows: int | None = None
) -> Iterator[tuple[pd.DataFrame, np.ndarray, dict[int, str]]]:
    """:func:`stage_csv` in chunks of ``chunk_rows`` data rows (problems by position in the chunk)."""
    expected = len(columns)
    records = _csv_rows(path)
    if header:
        next(records, None)
    done = False
    while not done:
        lines: list[int] = []
        rows: list[list[str]] = []
        problems: dict[int, str] = {}
        for line, fields in records:
            if len(fields) != expected:
                problems[len(rows)] = f"has {len(fields)} fields, expected {expected}"
                fields = [""] * expected
            rows.append(fields)
            lines.append(line)
            if chunk_rows is not None and len(rows) >= chunk_rows:
                break
        else:
            done = True
        if rows or (done and chunk_rows is None):
            frame = (
                pd.DataFrame(rows, columns=columns, dtype="object")
                if rows
                else pd.DataFrame({c: pd.Series([], dtype="object") for c in columns})
            )
            yield frame, np.asarray(lines, dtype=np.int64), problems


def stage_csv(
    path: Path, columns: list[str], *, header: bool, source: str
) -> tuple[pd.DataFrame, np.ndarray, dict[int, str]]:
    """Raw string columns, the source line of each data row, and field-count problems."""
    return next(iter_stage_csv(path, columns, header=header))


def read_json(path: Path) -> Any:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        try:
            return json.load(fh)
        except json.JSONDecodeError as exc:
            raise DataValidationError(
                f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})", source=str(path), line=exc.lineno
            ) from exc


def read_table(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    if name.endswith((".feather", ".arrow", ".ipc")):
        frame = pd.read_feather(path)
    else:
        frame = pd.read_parquet(path)
    return normalise_table(frame)


def normalise_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A table's time index (pandas' DatetimeIndex, or its unnamed Arrow column) as ``timestamp``."""
    if isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index(names="timestamp")
    if "__index_level_0__" in frame.columns and "timestamp" not in frame.columns:
        frame = frame.rename(columns={"__index_level_0__": "timestamp"})
    return frame


# --------------------------------------------------------------------------- detection


def _suffixes(path: Path) -> str:
    name = path.name.lower()
    return name[:-3] if name.endswith(".gz") else name


def open_source(path: str | Path, kind: str, format: str = "auto") -> tuple[Path, str, str]:
    """``(path, source name for messages, format)`` of an existing data file; ``auto`` is detected."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such data file: {p}")
    return p, str(path), detect_format(p, kind) if format == "auto" else format


def detect_format(path: str | Path, kind: str = "ohlcv") -> str:
    """The format of ``path`` for ``kind`` ``"ohlcv"``/``"trades"``, from its extension and first record."""
    p = Path(path)
    name = _suffixes(p)
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".feather", ".arrow", ".ipc")):
        return "feather"
    if name.endswith(".json"):
        return "freqtrade-json" if kind == "trades" else "ccxt-json"
    if name.endswith((".csv", ".txt")):
        first = first_record(p)
        if not first:
            raise DataValidationError(f"{p}: the file holds no records", source=str(p))
        header = has_header(first)
        lowered = [f.strip().lower() for f in first]
        if kind == "trades":
            if header and lowered[:3] == ["exchange", "symbol", "timestamp"]:
                return "tardis-csv"
            if header:
                return "binance-csv" if "is_buyer_maker" in lowered else "csv"
            if len(first) == 3:
                return "kraken-csv"
            if len(first) in (6, 7):
                return "binance-csv"
            raise DataValidationError(
                f"{p}: line 1: cannot tell the trades format from {len(first)} unnamed columns; "
                f"pass format= one of {TRADE_FORMATS}",
                source=str(p),
                line=1,
            )
        if header:
            if lowered[:3] == ["exchange", "symbol", "timestamp"]:
                raise DataValidationError(
                    f"{p}: a Tardis.dev file is tick data (trades, quotes or book snapshots), not OHLCV; "
                    "load Tardis trades with load_trades",
                    source=str(p),
                    line=1,
                )
            return "binance-kline" if "close_time" in lowered else "csv"
        if len(first) == 12:
            return "binance-kline"
        if len(first) == 6:
            return "csv-noheader"
        raise DataValidationError(
            f"{p}: line 1: cannot tell the OHLCV format from {len(first)} unnamed columns; "
            f"pass format= one of {OHLCV_FORMATS}",
            source=str(p),
            line=1,
        )
    raise DataValidationError(
        f"{p}: unknown file type {p.suffix!r}; expected .csv, .parquet, .feather or .json(.gz)", source=str(p)
    )


def symbol_from_filename(path: str | Path) -> str:
    """Symbol from a file name: freqtrade's ``XRP_ETH-trades`` is ``XRP/ETH``; else the stem, upper-cased."""
    stem = Path(path).name.split(".")[0]
    head = stem.split("-")[0]
    parts = head.split("_")
    if len(parts) == 2:
        return f"{parts[0]}/{parts[1]}".upper()
    if len(parts) == 3:
        return f"{parts[0]}/{parts[1]}:{parts[2]}".upper()
    return head.upper()
