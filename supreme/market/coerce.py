"""Staging helpers of the loaders: raw columns to typed arrays, each bad cell noted by row.

A loader stages a file's columns with these, then hands the typed columns and the problems found to
:mod:`supreme.market.validation`, which decides (raise or drop and report).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["coerce_numeric", "coerce_ohlcv", "coerce_timestamp_ms", "coerce_trades"]

_OHLCV_VALUES = ("open", "high", "low", "close", "volume")


def _is_nan_text(values: pd.Series) -> np.ndarray:
    text = values.astype("string").str.strip().str.lower()
    return (values.isna() | text.isin(["", "nan", "none", "null"])).to_numpy(dtype=bool, na_value=True)


def coerce_numeric(raw: pd.Series, column: str) -> tuple[np.ndarray, dict[int, str]]:
    """Float values of ``raw`` and ``{position: problem}`` for missing or unparsable cells."""
    if pd.api.types.is_bool_dtype(raw.dtype):
        raw = raw.astype("float64")
    if pd.api.types.is_numeric_dtype(raw.dtype):
        values = raw.to_numpy(dtype="float64", na_value=np.nan)
        bad = np.flatnonzero(np.isnan(values))
        return values, {int(i): f"{column} is missing (NaN)" for i in bad}
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    problems: dict[int, str] = {}
    bad = np.flatnonzero(np.isnan(values))
    if bad.size:
        nan_text = _is_nan_text(raw.iloc[bad])
        for pos, is_nan in zip(bad, nan_text, strict=True):
            if is_nan:
                problems[int(pos)] = f"{column} is missing (NaN)"
            else:
                problems[int(pos)] = f"{column} value {raw.iloc[pos]!r} is not a number"
    return values, problems


def _datetime_to_ms(values: pd.Series) -> np.ndarray:
    dt = pd.to_datetime(values, utc=True)
    ns = dt.dt.as_unit("ns").astype("int64").to_numpy()
    out = (ns // 1_000_000).astype("float64")
    out[dt.isna().to_numpy()] = np.nan
    return out


def _unit_divisor(magnitude: float) -> float:
    """Divisor that turns epoch numbers of this magnitude into ms (s, ms, µs or ns)."""
    if magnitude < 1e11:
        return 1e-3  # seconds
    if magnitude < 1e14:
        return 1.0  # milliseconds
    if magnitude < 1e17:
        return 1e3  # microseconds
    return 1e6  # nanoseconds


def coerce_timestamp_ms(
    raw: pd.Series, column: str = "timestamp", *, unit: str | None = None
) -> tuple[np.ndarray, dict[int, str], str]:
    """Epoch milliseconds (float, NaN where bad), problems by position, and the unit detected.

    Numbers are seconds, ms, µs or ns by magnitude (decided once per file from the median,
    so one odd row cannot change the unit of the others) unless ``unit`` (``s``, ``ms``,
    ``us``, ``ns``) is given; text is ISO 8601, UTC when it names no zone.
    """
    if isinstance(raw.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(raw.dtype):
        ms = _datetime_to_ms(raw)
        bad = np.flatnonzero(np.isnan(ms))
        return ms, {int(i): f"{column} is missing (NaT)" for i in bad}, "datetime"
    numeric = pd.to_numeric(raw, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    finite = numeric[np.isfinite(numeric)]
    problems: dict[int, str] = {}
    if pd.api.types.is_numeric_dtype(raw.dtype):
        present = int(np.count_nonzero(~np.isnan(numeric)))  # for numbers NaN is the only gap
    else:
        present = int((~_is_nan_text(raw)).sum()) if raw.size else 0
    if finite.size and finite.size * 2 >= present:
        divisors = {"s": 1e-3, "ms": 1.0, "us": 1e3, "ns": 1e6}
        if unit is None:
            div = _unit_divisor(float(np.median(np.abs(finite))))
            unit = {v: k for k, v in divisors.items()}[div]
        else:
            div = divisors[unit]
        ms = np.floor(numeric / div)
        bad = np.flatnonzero(np.isnan(ms))
    else:
        unit = "iso"
        text = raw.astype("string").str.strip()
        parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
        ms = _datetime_to_ms(parsed)
        bad = np.flatnonzero(np.isnan(ms))
    if bad.size:
        nan_text = _is_nan_text(raw.iloc[bad])
        for pos, is_nan in zip(bad, nan_text, strict=True):
            problems[int(pos)] = (
                f"{column} is missing" if is_nan else f"{column} value {raw.iloc[pos]!r} is not a time"
            )
    return ms, problems, unit


def _merge(problems: dict[int, str], found: dict[int, str]) -> None:
    for pos, msg in found.items():
        problems.setdefault(pos, msg)


def coerce_ohlcv(
    raw: pd.DataFrame, problems: dict[int, str], *, ts_unit: str | None = None, text_source: bool = False
) -> tuple[pd.DataFrame, str]:
    """Typed OHLCV columns of ``raw`` (problems added in place) and the timestamp unit used.

    ``text_source``: the cells came from text, where an all-NaN volume column is not the
    "volume not recorded" of a table (mark-price candles) but a missing value on every row.
    """
    staged = pd.DataFrame(index=range(len(raw)))
    ts, ts_problems, unit = coerce_timestamp_ms(raw["timestamp"], unit=ts_unit)
    staged["timestamp"] = ts
    _merge(problems, ts_problems)
    for col in _OHLCV_VALUES:
        values, col_problems = coerce_numeric(raw[col], col)
        staged[col] = values
        _merge(problems, col_problems)
    if not text_source and raw["volume"].isna().all() and len(raw):
        # Let validation see an all-NaN volume column (mark-price candles), not one "missing" per row.
        for pos in list(problems):
            if problems[pos] == "volume is missing (NaN)":
                del problems[pos]
    return staged, unit


def coerce_trades(
    raw: pd.DataFrame, problems: dict[int, str], *, ts_unit: str | None = None
) -> tuple[pd.DataFrame, str]:
    """Typed trades columns of ``raw`` (problems added in place) and the timestamp unit used."""
    staged = pd.DataFrame(index=range(len(raw)))
    ts, ts_problems, unit = coerce_timestamp_ms(raw["timestamp"], unit=ts_unit)
    staged["timestamp"] = ts
    _merge(problems, ts_problems)
    staged["symbol"] = raw["symbol"].to_numpy(dtype=object)
    staged["side"] = raw["side"].to_numpy(dtype=object)
    for col in ("price", "amount"):
        values, col_problems = coerce_numeric(raw[col], col)
        staged[col] = values
        _merge(problems, col_problems)
    staged["id"] = raw["id"].to_numpy(dtype=object)
    return staged, unit
