"""Recordings for a pipeline replay: several files, several symbols, checked where files meet.

Each file is loaded and validated by :func:`~supreme.market.recording.open_recording` (bad rows are
reported by file and row, gaps inside a file by its loader).  Files of one symbol are joined in the
order given -- never re-ordered: a file whose first candle is not after the previous file's last
candle is an error naming both files and the row; a hole between two files is reported as a gap.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from supreme.errors import SupremeError
from supreme.market.formats import symbol_from_filename
from supreme.market.loaders import load_trades
from supreme.market.recording import Recording, open_recording
from supreme.market.resample import resample_candles, trades_to_candles
from supreme.market.timeframes import timeframe_ms
from supreme.market.validation import OnError

__all__ = ["ReplayInputError", "Stream", "open_streams"]


class ReplayInputError(SupremeError, ValueError):
    """The files of a replay do not fit together; the message names the files and the row."""


@dataclass(frozen=True)
class Stream:
    """One symbol's candles at one timeframe, joined from one or more files."""

    symbol: str
    timeframe: str
    frame: pd.DataFrame
    files: tuple[str, ...]
    notes: tuple[str, ...] = ()


def _source_rows(rec: Recording) -> np.ndarray:
    """1-based data row in the file of each kept candle (dropped rows skipped)."""
    report = rec.report
    n = len(rec.frame)
    if report is None or not report.issues:
        return np.arange(1, n + 1)
    dropped = {i.row for i in report.issues}
    rows = np.array([r for r in range(1, report.rows_read + 1) if r not in dropped])
    return rows[:n]


def _join(symbol: str, recs: list[Recording], tf: str) -> Stream:
    step = timeframe_ms(tf)
    notes: list[str] = []
    for prev, nxt in itertools.pairwise(recs):
        if prev.frame.empty or nxt.frame.empty:
            continue
        last, first = int(prev.frame["timestamp"].iloc[-1]), int(nxt.frame["timestamp"].iloc[0])
        if first <= last:
            kind = "duplicates" if first == last else "is before"
            raise ReplayInputError(
                f"{nxt.source} row {int(_source_rows(nxt)[0])}: the candle at {first} ms {kind} the "
                f"last candle of {prev.source} ({last} ms); files of {symbol} must follow each other in time "
                "(they are never re-ordered)")
        if first - last > step:
            notes.append(f"gap: {(first - last) // step - 1} {tf} candles missing between {prev.source} "
                         f"(last at {last} ms) and {nxt.source} row {int(_source_rows(nxt)[0])}")
    frame = pd.concat([r.frame for r in recs], ignore_index=True) if len(recs) > 1 else recs[0].frame
    return Stream(symbol, tf, frame, tuple(r.source for r in recs), tuple(notes))


def _at_timeframe(stream: Stream, timeframe: str | None) -> Stream:
    """``stream`` as candles of ``timeframe``, resampled when the files are finer (pandas' left-closed,
    left-labelled buckets; a partial last bucket is dropped).  Joined first, so rows name file rows."""
    if timeframe is None or timeframe == stream.timeframe:
        return stream
    if timeframe_ms(timeframe) < timeframe_ms(stream.timeframe):
        raise ReplayInputError(f"{', '.join(stream.files)}: recorded at {stream.timeframe}, cannot replay "
                               f"at the finer {timeframe}")
    frame = resample_candles(stream.frame, timeframe, source_timeframe=stream.timeframe)
    note = (f"{stream.symbol}: {len(stream.frame)} {stream.timeframe} candles resampled to {len(frame)} "
            f"{timeframe}")
    return replace(stream, timeframe=timeframe, frame=frame, notes=(*stream.notes, note))


def _named(path: str | Path) -> tuple[str | None, str | Path]:
    """``SYMBOL=path`` names the symbol; a plain path takes it from the file name."""
    text = str(path)
    name, sep, rest = text.partition("=")
    if sep and name and not Path(text).exists() and "/" not in name:
        return name, rest
    return None, path


def _trades_recording(file: str | Path, name: str | None, timeframe: str | None, format: str,
                      on_error: OnError) -> Recording:
    """A trades file aggregated into candles of ``timeframe`` (tick aggregation)."""
    if timeframe is None:
        raise ReplayInputError(f"{file}: candles from trades need --timeframe")
    trades = load_trades(file, format, on_error=on_error)
    candles = trades_to_candles(trades, timeframe)
    return Recording(candles, name or symbol_from_filename(file), timeframe, f"{file} (trades->{timeframe})")


def open_streams(paths: Sequence[str | Path], *, symbols: Sequence[str] | None = None,
                 timeframe: str | None = None, on_error: OnError = "raise",
                 format: str = "auto", trades: bool = False) -> list[Stream]:
    """One :class:`Stream` per symbol in ``paths``, in first-seen order.

    The symbol is the file name's (:func:`~supreme.market.formats.symbol_from_filename`) unless a
    path is given as ``SYMBOL=path``.  A ``timeframe`` coarser than a file's is made by resampling;
    with ``trades`` the files hold trades, aggregated into candles of ``timeframe``.
    """
    if not paths:
        raise ReplayInputError("no recordings given")
    by_symbol: dict[str, list[Recording]] = {}
    for path in paths:
        name, file = _named(path)
        rec = (_trades_recording(file, name, timeframe, format, on_error) if trades
               else open_recording(file, format, on_error=on_error, symbol=name))
        by_symbol.setdefault(rec.symbol, []).append(rec)
    if symbols:
        unknown = [s for s in symbols if s not in by_symbol]
        if unknown:
            raise ReplayInputError(f"symbols {unknown} are in none of the files; found {sorted(by_symbol)}")
        by_symbol = {s: by_symbol[s] for s in symbols}
    streams = []
    for sym, recs in by_symbol.items():
        tfs = {rec.timeframe or timeframe for rec in recs}
        if None in tfs:
            raise ReplayInputError(f"cannot infer the timeframe of {sym} from fewer than two candles; "
                                   "pass --timeframe")
        if len(tfs) > 1:
            raise ReplayInputError(f"the files of {sym} have different timeframes {sorted(map(str, tfs))}")
        streams.append(_at_timeframe(_join(sym, recs, str(tfs.pop())), timeframe))
    if len({st.timeframe for st in streams}) > 1:
        raise ReplayInputError(f"the symbols are recorded at {sorted({st.timeframe for st in streams})}; "
                               "pass a --timeframe they all resample to")
    return streams
