"""The bundled sample: real daily index candles shipped inside the ``arch`` package (NCSA licence).

``arch.data.sp500.load()`` (S&P 500, ``SPX``) and ``arch.data.nasdaq.load()`` (NASDAQ
Composite, ``IXIC``) hold daily Open/High/Low/Close/Adj Close/Volume from 1999-01-04 to
2018-12-31 with a naive date index.  We read them at run time (nothing is copied into the
project), stamp each session at 00:00 UTC of its date, drop ``Adj Close`` and pass the
result through the same validation as any user file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from supreme.market.validation import validate_ohlcv

__all__ = ["SAMPLES", "SAMPLE_TIMEFRAME", "load_sample", "sample_symbols"]

log = logging.getLogger(__name__)

SAMPLE_TIMEFRAME = "1d"


def _sp500() -> pd.DataFrame:
    from arch.data import sp500

    return sp500.load()


def _nasdaq() -> pd.DataFrame:
    from arch.data import nasdaq

    return nasdaq.load()


#: symbol -> (loader, provenance)
SAMPLES: dict[str, tuple[Callable[[], pd.DataFrame], str]] = {
    "SPX": (_sp500, "S&P 500 index, daily 1999-2018, arch.data.sp500 (arch package, NCSA licence)"),
    "IXIC": (
        _nasdaq,
        "NASDAQ Composite index, daily 1999-2018, arch.data.nasdaq (arch package, NCSA licence)",
    ),
}
# The foundation issue called the NASDAQ sample "NDX", but arch ships the Composite, not the Nasdaq-100.
_ALIASES = {"NDX": "IXIC", "NASDAQ": "IXIC", "SP500": "SPX", "GSPC": "SPX"}


def sample_symbols() -> list[str]:
    """The bundled sample's symbols."""
    return sorted(SAMPLES)


def load_sample(symbol: str = "SPX") -> pd.DataFrame:
    """The bundled sample ``symbol`` as a unified daily OHLCV frame (report in ``attrs``)."""
    key = symbol.upper()
    if key in _ALIASES:
        log.info("sample %s is served by %s (%s)", symbol, _ALIASES[key], SAMPLES[_ALIASES[key]][1])
        key = _ALIASES[key]
    if key not in SAMPLES:
        raise KeyError(f"no bundled sample {symbol!r}; available: {sample_symbols()}")
    loader, provenance = SAMPLES[key]
    raw = loader()
    index = pd.DatetimeIndex(raw.index)
    if index.tz is None:
        index = index.tz_localize("UTC")
    ts = (index.as_unit("ns").asi8 // 1_000_000).astype(np.int64)
    staged = pd.DataFrame(
        {
            "timestamp": ts.astype("float64"),
            "open": raw["Open"].to_numpy(dtype="float64"),
            "high": raw["High"].to_numpy(dtype="float64"),
            "low": raw["Low"].to_numpy(dtype="float64"),
            "close": raw["Close"].to_numpy(dtype="float64"),
            "volume": raw["Volume"].to_numpy(dtype="float64"),
        }
    )
    frame = validate_ohlcv(staged, f"sample {key} ({provenance})", timeframe=SAMPLE_TIMEFRAME)
    frame.attrs["symbol"] = key
    return frame
