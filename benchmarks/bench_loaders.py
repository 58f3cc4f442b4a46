"""CSV loading rows/s (stdlib staging vs pyarrow, whole file and chunked) and resampling vs pandas.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/bench_loaders.py [--rows 1000000] [--repeat 3]``.

1. A synthetic 1m OHLCV CSV of ``--rows`` rows is written to a temporary folder, then loaded:
   * ``stdlib``: the staging ``load_ohlcv`` used before pyarrow (``csv.reader`` rows ->
     ``coerce_ohlcv`` -> ``validate_ohlcv``), the baseline;
   * ``load_ohlcv``: today's loader (pyarrow staging, same coercion and validation);
   * ``iter_ohlcv_chunks``: the chunked loader (``--chunk-rows`` rows at a time);
   * ``pyarrow.csv.read_csv``: bare parsing, no validation -- the floor.
   Each prints rows/s and its speed-up over ``stdlib``; the frames are checked equal.
2. ``resample_candles`` of 45k 1m candles (the BTC-PERP recording, else a synthetic walk) to 1h
   beside pandas' ``resample(label="left", closed="left").agg(...)`` on the same frame.
3. ``trades_to_candles`` of the XRP/ETH trades to 1m beside pandas' ``resample().ohlc()``.
Figures are best-of-``repeat`` wall times of this run (the stdlib baseline runs once: it is slow).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv

from supreme.market import iter_ohlcv_chunks, load_ohlcv, load_trades, resample_candles, trades_to_candles
from supreme.market.coerce import coerce_ohlcv
from supreme.market.formats import stage_csv
from supreme.market.timeframes import timeframe_ms
from supreme.market.validation import OHLCV_COLUMNS, validate_ohlcv
from supreme.paths import SharedDataMissing, shared_data


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best wall time of ``repeat`` calls and the last result."""
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def write_csv(path: Path, rows: int, seed: int = 11) -> None:
    """A seeded 1m random walk with consistent OHLC, written with pandas (6 decimals)."""
    rng = np.random.default_rng(seed)
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.001, rows)))
    open_ = np.r_[close[0], close[:-1]]
    spread = rng.uniform(0, 0.002, rows)
    frame = pd.DataFrame(
        {
            "timestamp": 1_600_000_020_000 + 60_000 * np.arange(rows, dtype=np.int64),
            "open": open_,
            "high": np.maximum(open_, close) * (1 + spread),
            "low": np.minimum(open_, close) * (1 - spread),
            "close": close,
            "volume": rng.gamma(2.0, 5.0, rows),
        }
    )
    frame.to_csv(path, index=False, float_format="%.6f")


def stdlib_load(path: Path) -> pd.DataFrame:
    """The pre-pyarrow CSV path of ``load_ohlcv``: stdlib staging, then the shared coercion/validation."""
    raw, lines, problems = stage_csv(path, list(OHLCV_COLUMNS), header=True, source=str(path))
    staged, _ = coerce_ohlcv(raw, problems, text_source=True)
    return validate_ohlcv(staged, str(path), lines=lines, parse_problems=problems)


def bench_csv(rows: int, repeat: int, chunk_rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "candles.csv"
        write_csv(path, rows)
        size_mb = path.stat().st_size / 1e6
        print(f"CSV load: {rows:,} rows, {size_mb:.1f} MB")
        base, want = best(lambda: stdlib_load(path), 1)
        t_load, got = best(lambda: load_ohlcv(path), repeat)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        t_chunks, parts = best(lambda: list(iter_ohlcv_chunks(path, chunk_rows)), repeat)
        pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), want, check_exact=True)
        t_arrow, _ = best(lambda: pacsv.read_csv(path), repeat)
        print(f"{'path':<34}{'seconds':>9}{'rows/s':>14}{'vs stdlib':>11}")
        for name, t in (
            ("stdlib staging (baseline)", base),
            ("load_ohlcv (pyarrow)", t_load),
            (f"iter_ohlcv_chunks ({chunk_rows:,}/chunk)", t_chunks),
            ("pyarrow.csv.read_csv (no checks)", t_arrow),
        ):
            print(f"{name:<34}{t:>9.3f}{rows / t:>14,.0f}{base / t:>10.1f}x")


def pandas_resample(frame: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    index = pd.to_datetime(frame["timestamp"], unit="ms", utc=True)
    rule = pd.Timedelta(timeframe_ms(timeframe), unit="ms")
    r = frame.drop(columns="timestamp").set_index(index).resample(rule, label="left", closed="left")
    out = r.agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    return out[r["open"].count() > 0]


def pandas_trades(trades: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    index = pd.to_datetime(trades["timestamp"], unit="ms", utc=True)
    r = trades.set_index(index).resample(pd.Timedelta(timeframe_ms(timeframe), unit="ms"))
    out = r["price"].ohlc()
    out["volume"] = r["amount"].sum()
    return out[r["price"].count() > 0]


def candles_45k() -> tuple[str, pd.DataFrame]:
    try:
        return "BTC-PERP 1m recording", load_ohlcv(shared_data("nautilus/btc-perp-20211231-20220201_1m.csv"))
    except SharedDataMissing:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "c.csv"
            write_csv(path, 45_031)
            return "synthetic 1m walk", load_ohlcv(path)


def bench_resample(repeat: int) -> None:
    name, frame = candles_45k()
    ours_t, ours = best(lambda: resample_candles(frame, "1h", partial="keep"), repeat)
    theirs_t, theirs = best(lambda: pandas_resample(frame, "1h"), repeat)
    assert np.array_equal(ours["close"].to_numpy(), theirs["close"].to_numpy())
    print(f"\nresample {len(frame):,} candles ({name}) 1m -> 1h, {len(ours)} buckets")
    print(f"  resample_candles {ours_t * 1e3:8.2f} ms   pandas resample {theirs_t * 1e3:8.2f} ms   "
          f"ratio {theirs_t / ours_t:.1f}x")  # fmt: skip
    try:
        trades = load_trades(shared_data("freqtrade/XRP_ETH-trades.feather"))
    except SharedDataMissing:
        return
    ours_t, ours = best(lambda: trades_to_candles(trades, "1m", partial="keep"), repeat)
    theirs_t, theirs = best(lambda: pandas_trades(trades, "1m"), repeat)
    assert np.array_equal(ours["volume"].to_numpy(), theirs["volume"].to_numpy())
    print(f"trades_to_candles {len(trades):,} XRP/ETH trades -> {len(ours)} 1m candles")
    print(f"  trades_to_candles {ours_t * 1e3:7.2f} ms   pandas ohlc     {theirs_t * 1e3:8.2f} ms   "
          f"ratio {theirs_t / ours_t:.1f}x")  # fmt: skip


def main() -> None:
    """Parse arguments and print every table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    args = parser.parse_args()
    bench_csv(args.rows, args.repeat, args.chunk_rows)
    bench_resample(max(args.repeat, 5))


if __name__ == "__main__":
    main()
