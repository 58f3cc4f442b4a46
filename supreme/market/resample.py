"""Candles to coarser candles, and trades to candles, with pandas' ``resample`` conventions.

``resample_candles(frame, "1h")`` is ``frame.resample("1h", label="left", closed="left",
origin="start_day")`` with open=first, high=max, low=min, close=last, volume=sum -- computed with
numpy over contiguous bins (the input is sorted, as every loader returns it), never row by row.

Conventions (each checked against pandas in ``tests/market/test_resample.py``):

* a bucket ``[start, start + timeframe)`` is labelled by its start (``label="left"``,
  ``closed="left"``); buckets are counted from midnight UTC of the first row's day
  (pandas' default ``origin="start_day"``), so 1h/4h/1d buckets sit on whole hours/days;
* empty buckets (a gap in the source) are dropped, never forward-filled;
* volume sums equal pandas' to the bit (the same addition order); a bucket whose volume is
  not recorded at all (mark-price candles) keeps NaN (pandas' ``sum(min_count=1)``);
* the last bucket is *partial* when the data stop before its end (it is still forming on a live
  feed).  ``partial="drop"`` (the default) drops it, so a replay never shows an unclosed candle;
  ``partial="keep"`` keeps it.  Either way ``frame.attrs["partial_last"]`` says whether the
  returned last row is partial, and ``attrs["timeframe"]`` names the new timeframe.

Departures from pandas: none in the values; ``1w`` buckets start on the first row's day (as
pandas' ``"7D"``), not on Monday as exchanges' weekly candles do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd

from supreme.market.timeframes import infer_timeframe, timeframe_ms

__all__ = ["Partial", "resample_candles", "trades_to_candles"]

Partial = Literal["drop", "keep"]
_DAY_MS = 86_400_000
_OHLCV = ("timestamp", "open", "high", "low", "close", "volume")


def _column(data: pd.DataFrame | Mapping[str, np.ndarray], name: str) -> np.ndarray:
    if name not in data:
        raise ValueError(f"resampling needs a {name!r} column; got {list(data.keys())}")
    values = data[name]
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype="int64" if name == "timestamp" else "float64", na_value=np.nan)
    return np.asarray(values, dtype="int64" if name == "timestamp" else "float64")


def _check_sorted(ts: np.ndarray, *, strict: bool, what: str) -> None:
    steps = np.diff(ts)
    bad = np.flatnonzero(steps <= 0 if strict else steps < 0)
    if bad.size:
        i = int(bad[0]) + 1
        order = "strictly increasing" if strict else "non-decreasing"
        raise ValueError(
            f"{what} timestamps must be {order} (row {i + 1}: {int(ts[i])} after {int(ts[i - 1])}); "
            "load them with load_ohlcv/load_trades, which validate the order"
        )


def _bins(ts: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Start label of each bucket and the index of its first row (rows sorted, empty bins absent)."""
    origin = (int(ts[0]) // _DAY_MS) * _DAY_MS
    label = origin + ((ts - origin) // step) * step
    starts = np.flatnonzero(np.r_[True, label[1:] != label[:-1]])
    return label[starts], starts


def _bucket_sum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per-bucket sums equal to pandas' resample ``sum(min_count=1)``: NaN skipped, all-NaN -> NaN.

    ``np.add.reduceat`` adds in the same order as pandas' group sum (checked bit for bit in the
    tests); adding the 0.0 that stands in for a NaN changes no sum.
    """
    missing = np.isnan(values)
    total = np.add.reduceat(np.where(missing, 0.0, values), starts)
    if missing.any():
        counted = np.add.reduceat((~missing).astype(np.int64), starts)
        total[counted == 0] = np.nan
    return total


def _aggregate(
    ts: np.ndarray,
    first: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    last: np.ndarray,
    volume: np.ndarray,
    step: int,
) -> tuple[pd.DataFrame, np.ndarray]:
    labels, starts = _bins(ts, step)
    ends = np.r_[starts[1:], ts.size] - 1
    frame = pd.DataFrame(
        {
            "timestamp": labels.astype("int64"),
            "open": first[starts],
            "high": np.maximum.reduceat(high, starts),
            "low": np.minimum.reduceat(low, starts),
            "close": last[ends],
            "volume": _bucket_sum(volume, starts),
        }
    )
    return frame, labels


def _finish(
    frame: pd.DataFrame, labels: np.ndarray, data_end_ms: int, step: int, partial: Partial, timeframe: str
) -> pd.DataFrame:
    if partial not in ("drop", "keep"):
        raise ValueError(f"partial must be 'drop' or 'keep', got {partial!r}")
    is_partial = bool(labels.size) and int(labels[-1]) + step > data_end_ms
    if is_partial and partial == "drop":
        frame = frame.iloc[:-1].reset_index(drop=True)
        is_partial = False
    frame.attrs["timeframe"] = timeframe
    frame.attrs["partial_last"] = is_partial
    return frame


def _empty(timeframe: str) -> pd.DataFrame:
    frame = pd.DataFrame({c: np.array([], dtype="int64" if c == "timestamp" else "float64") for c in _OHLCV})
    frame.attrs["timeframe"] = timeframe
    frame.attrs["partial_last"] = False
    return frame


def resample_candles(
    frame_or_arrays: pd.DataFrame | Mapping[str, np.ndarray],
    timeframe: str,
    *,
    source_timeframe: str | None = None,
    partial: Partial = "drop",
) -> pd.DataFrame:
    """Unified OHLCV candles resampled to the coarser ``timeframe`` (pandas ``label/closed="left"``).

    ``frame_or_arrays`` is a unified OHLCV frame (or a mapping of its column arrays) with strictly
    increasing ms timestamps.  ``source_timeframe`` defaults to the loader's report, else the
    commonest spacing.  A target finer than the source, or not a whole multiple of it, raises
    ``ValueError``.  The last bucket counts as complete when the source candles cover it to its end.
    """
    target = timeframe_ms(timeframe)
    ts = _column(frame_or_arrays, "timestamp")
    if ts.size == 0:
        return _empty(timeframe)
    _check_sorted(ts, strict=True, what="candle")
    src_tf = source_timeframe or _source_timeframe(frame_or_arrays, ts)
    source = timeframe_ms(src_tf) if src_tf else target
    if target < source:
        raise ValueError(f"cannot resample {src_tf} candles to the finer timeframe {timeframe!r}")
    if target % source:
        raise ValueError(
            f"cannot resample {src_tf} candles to {timeframe!r}: "
            f"{timeframe} is not a whole multiple of {src_tf}"
        )
    cols = {c: _column(frame_or_arrays, c) for c in _OHLCV[1:]}
    out, labels = _aggregate(
        ts, cols["open"], cols["high"], cols["low"], cols["close"], cols["volume"], target
    )
    return _finish(out, labels, int(ts[-1]) + source, target, partial, timeframe)


def _source_timeframe(data: pd.DataFrame | Mapping[str, np.ndarray], ts: np.ndarray) -> str | None:
    if isinstance(data, pd.DataFrame):
        from supreme.market.validation import report_of

        report = report_of(data)
        if report is not None and report.timeframe:
            return report.timeframe
        if data.attrs.get("timeframe"):
            return str(data.attrs["timeframe"])
    return infer_timeframe(ts)


def trades_to_candles(
    trades_frame: pd.DataFrame,
    timeframe: str,
    *,
    end_ms: int | None = None,
    partial: Partial = "drop",
) -> pd.DataFrame:
    """OHLCV candles from unified trades (``timestamp`` ms, ``price``, ``amount``): tick aggregation.

    Equal to ``price.resample(tf, label="left", closed="left").ohlc()`` beside the summed
    ``amount``, empty buckets dropped.  ``end_ms`` is where the recording stops (default: just
    after the last trade); the last bucket is partial when it ends after ``end_ms``.
    """
    step = timeframe_ms(timeframe)
    if "symbol" in trades_frame and trades_frame["symbol"].nunique(dropna=True) > 1:
        raise ValueError(
            "trades of several symbols in one frame; aggregate each: "
            "frame.groupby('symbol').apply(trades_to_candles, timeframe)"
        )
    ts = _column(trades_frame, "timestamp")
    if ts.size == 0:
        return _empty(timeframe)
    _check_sorted(ts, strict=False, what="trade")
    price = _column(trades_frame, "price")
    amount = _column(trades_frame, "amount")
    out, labels = _aggregate(ts, price, price, price, price, amount, step)
    end = int(ts[-1]) + 1 if end_ms is None else int(end_ms)
    return _finish(out, labels, end, step, partial, timeframe)
