"""A market recording opened for replay: its candles, symbol, timeframe and where it came from.

One place decides a recording's symbol (given, else the sample's own or the file name) and
timeframe (given, else the loader's report), for ``supreme replay`` and for the API's markets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from supreme.market.formats import symbol_from_filename
from supreme.market.loaders import load_ohlcv
from supreme.market.sample import load_sample
from supreme.market.validation import OnError, ValidationReport, report_of

__all__ = ["Recording", "open_recording", "open_sample"]


@dataclass(frozen=True)
class Recording:
    """Candles ready to replay; ``timeframe`` is None when it was neither given nor inferable."""

    frame: pd.DataFrame
    symbol: str
    timeframe: str | None
    source: str

    @property
    def report(self) -> ValidationReport | None:
        """The loader's validation report (rows dropped, gaps), if it attached one."""
        return report_of(self.frame)


def _recording(frame: pd.DataFrame, symbol: str, timeframe: str | None, source: str) -> Recording:
    report = report_of(frame)
    inferred = report.timeframe if report is not None else None
    return Recording(frame, symbol, timeframe or inferred or None, source)


def open_recording(path: str | Path, format: str = "auto", *, on_error: OnError = "raise",
                   timeframe: str | None = None, symbol: str | None = None) -> Recording:
    """An OHLCV file (any format :func:`~supreme.market.loaders.load_ohlcv` reads), named by its file."""
    frame = load_ohlcv(path, format, on_error=on_error, timeframe=timeframe)
    return _recording(frame, symbol or symbol_from_filename(path), timeframe, str(path))


def open_sample(name: str, *, timeframe: str | None = None, symbol: str | None = None) -> Recording:
    """The bundled sample ``name`` (SPX or IXIC), published under its own symbol unless given."""
    frame = load_sample(name)
    return _recording(frame, symbol or str(frame.attrs.get("symbol", name)), timeframe,
                      "bundled arch sample")
