"""Recordings written by the tests themselves: seeded random walks as OHLCV CSV files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def walk_frame(n: int, seed: int, start_ms: int = 1_640_995_200_000, step_ms: int = 60_000) -> pd.DataFrame:
    """A seeded random-walk OHLCV frame (unified columns, timestamps in ms)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.003, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.003, n))
    ts = start_ms + np.arange(n, dtype=np.int64) * step_ms
    return pd.DataFrame({"timestamp": ts, "open": open_, "high": high, "low": low, "close": close,
                         "volume": rng.uniform(1, 10, n)})


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """``frame`` as a CSV recording with ISO timestamps (as the shared recordings are)."""
    out = frame.copy()
    out["timestamp"] = pd.to_datetime(out["timestamp"], unit="ms").dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    out.to_csv(path, index=False, float_format="%.10g")
    return path
