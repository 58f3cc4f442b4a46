"""Per-(symbol, timeframe) candle windows as numpy buffers: the feed's stream shape.

A :class:`CandleWindow` keeps the last ``keep`` closed candles of one stream in column arrays
(timestamp int64, open/high/low/close/volume float64).  Appending a block is a slice copy; when
the buffer is full the last ``keep`` rows move to its front, so appends cost amortised O(1) per
candle and every view handed out is contiguous (what the indicator kernels want).  No DataFrame is
built per candle; :meth:`CandleWindow.frame` builds one only when a caller asks for it.

Views returned by :meth:`arrays` stay valid until the next :meth:`extend`; a caller that keeps them
longer copies.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from supreme.errors import SupremeError

__all__ = ["CandleArrays", "CandleWindow", "WindowOrderError"]

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")


class WindowOrderError(SupremeError, ValueError):
    """A block would put a candle at or before the window's last timestamp."""


class CandleArrays(NamedTuple):
    """Column arrays of a run of candles (timestamps in ms UTC)."""

    timestamp: np.ndarray[Any, np.dtype[np.int64]]
    open: np.ndarray[Any, np.dtype[np.float64]]
    high: np.ndarray[Any, np.dtype[np.float64]]
    low: np.ndarray[Any, np.dtype[np.float64]]
    close: np.ndarray[Any, np.dtype[np.float64]]
    volume: np.ndarray[Any, np.dtype[np.float64]]

    def __len__(self) -> int:
        return int(self.timestamp.size)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> CandleArrays:
        """Column arrays of a unified OHLCV frame."""
        ts = np.ascontiguousarray(frame["timestamp"].to_numpy(), dtype=np.int64)
        cols = [np.ascontiguousarray(frame[c].to_numpy(), dtype=np.float64) for c in COLUMNS[1:]]
        return cls(ts, *cols)

    def slice(self, start: int, stop: int) -> CandleArrays:
        """Rows ``start:stop`` as views."""
        return CandleArrays(self.timestamp[start:stop], self.open[start:stop], self.high[start:stop],
                            self.low[start:stop], self.close[start:stop], self.volume[start:stop])

    def frame(self) -> pd.DataFrame:
        """A unified OHLCV DataFrame (copies)."""
        return pd.DataFrame({name: a.copy() for name, a in zip(COLUMNS, self, strict=True)})


class CandleWindow:
    """The last ``keep`` candles of one (symbol, timeframe) stream, appended block by block."""

    __slots__ = ("_cols", "_n", "_ts", "appended", "keep", "symbol", "timeframe")

    def __init__(self, symbol: str, timeframe: str, keep: int, *, slack: int | None = None) -> None:
        if keep < 1:
            raise ValueError(f"CandleWindow.keep must be >= 1, got {keep}")
        self.symbol, self.timeframe, self.keep = symbol, timeframe, keep
        capacity = keep + (slack if slack is not None else max(keep, 1024))
        self._ts = np.empty(capacity, np.int64)
        self._cols = np.empty((5, capacity), np.float64)
        self._n = 0
        #: candles ever appended (the stream position; a resumed replay starts after it)
        self.appended = 0

    def __len__(self) -> int:
        return min(self._n, self.keep)

    @property
    def last_timestamp(self) -> int | None:
        """Open time of the newest candle, or None while empty."""
        return int(self._ts[self._n - 1]) if self._n else None

    def extend(self, block: CandleArrays) -> int:
        """Append a block of candles (strictly after the newest); returns the rows kept in the buffer."""
        n = len(block)
        if n == 0:
            return self._n
        ts = block.timestamp
        last = self.last_timestamp
        if (last is not None and int(ts[0]) <= last) or (n > 1 and not bool(np.all(ts[1:] > ts[:-1]))):
            raise WindowOrderError(
                f"{self.symbol} {self.timeframe}: candles must be strictly after {last} ms and increasing"
            )
        capacity = self._ts.size
        if n > capacity - self.keep:
            self._grow(n)
            capacity = self._ts.size
        if self._n + n > capacity:
            # keep the newest ``keep`` rows at the front; views handed out before are now stale
            src = self._n - self.keep
            self._ts[: self.keep] = self._ts[src:self._n]
            self._cols[:, : self.keep] = self._cols[:, src:self._n]
            self._n = self.keep
        end = self._n + n
        self._ts[self._n:end] = ts
        for row, col in enumerate(block[1:]):
            self._cols[row, self._n:end] = col
        self._n = end
        self.appended += n
        return self._n

    def _grow(self, n: int) -> None:
        capacity = self.keep + 2 * n
        ts, cols = np.empty(capacity, np.int64), np.empty((5, capacity), np.float64)
        ts[: self._n], cols[:, : self._n] = self._ts[: self._n], self._cols[:, : self._n]
        self._ts, self._cols = ts, cols

    def buffered(self) -> CandleArrays:
        """Every row in the buffer (at least the last ``keep`` plus the newest block), as views."""
        c = self._cols
        n = self._n
        return CandleArrays(self._ts[:n], c[0, :n], c[1, :n], c[2, :n], c[3, :n], c[4, :n])

    def arrays(self, limit: int | None = None) -> CandleArrays:
        """The newest ``limit`` (default ``keep``) candles as contiguous views."""
        k = self.keep if limit is None else max(0, min(limit, self.keep))
        n = self._n
        return self.buffered().slice(max(0, n - k), n)

    def frame(self, limit: int | None = None) -> pd.DataFrame:
        """The newest ``limit`` candles as a unified OHLCV DataFrame (a copy)."""
        return self.arrays(limit).frame()

    def nbytes(self) -> int:
        """Bytes held by the buffers (what an L1 size budget counts)."""
        return int(self._ts.nbytes + self._cols.nbytes)
