"""Multi-file replays are checked where files meet; a killed replay resumes with nothing lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from supreme.cache.codec import decode_entry
from supreme.market.loaders import load_ohlcv
from supreme.market.validation import DataValidationError
from supreme.replay.pipeline import PipelineSettings
from supreme.replay.runner import replay_files
from supreme.replay.sources import ReplayInputError, open_streams
from tests.replay.conftest import walk_frame, write_csv


def test_files_of_one_symbol_join_in_order_and_match_one_file(tmp_path: Path) -> None:
    frame = walk_frame(900, seed=7)
    whole = write_csv(frame, tmp_path / "AAA.csv")
    (tmp_path / "parts").mkdir()
    a = write_csv(frame.iloc[:400], tmp_path / "parts" / "AAA-1.csv")
    b = write_csv(frame.iloc[400:], tmp_path / "parts" / "AAA-2.csv")
    one = replay_files([whole], tmp_path / "one", figure=False).result.signals
    two = replay_files([a, b], tmp_path / "two", figure=False).result.signals
    pd.testing.assert_frame_equal(one, two)


def test_overlapping_files_are_an_error_naming_file_and_row(tmp_path: Path) -> None:
    frame = walk_frame(300, seed=8)
    a = write_csv(frame.iloc[:200], tmp_path / "AAA-1.csv")
    b = write_csv(frame.iloc[150:], tmp_path / "AAA-2.csv")
    with pytest.raises(ReplayInputError, match=r"AAA-2\.csv row 1: the candle at \d+ ms is before"):
        open_streams([a, b])
    with pytest.raises(ReplayInputError, match="never re-ordered"):
        open_streams([b, a])
    dup = write_csv(frame.iloc[199:], tmp_path / "AAA-3.csv")
    with pytest.raises(ReplayInputError, match="duplicates"):
        open_streams([a, dup])


def test_a_gap_between_files_is_reported(tmp_path: Path) -> None:
    frame = walk_frame(300, seed=9)
    a = write_csv(frame.iloc[:100], tmp_path / "AAA-1.csv")
    b = write_csv(frame.iloc[110:], tmp_path / "AAA-2.csv")
    (stream,) = open_streams([a, b])
    (note,) = stream.notes  # rows 100..109 are in neither file
    assert "gap: 10 1m candles missing" in note and "AAA-2.csv row 1" in note


def test_bad_rows_are_named_by_file_and_row(tmp_path: Path) -> None:
    path = write_csv(walk_frame(50, seed=10), tmp_path / "AAA.csv")
    lines = path.read_text().splitlines()
    lines[21] = lines[21].replace(",", ",oops,", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataValidationError, match=r"AAA\.csv.*row 21"):
        open_streams([path])
    (stream,) = open_streams([path], on_error="skip")
    assert len(stream.frame) == 49


def test_symbol_named_on_the_command_line(tmp_path: Path) -> None:
    a = write_csv(walk_frame(120, seed=14), tmp_path / "btc-perp-2022.csv")
    assert [s.symbol for s in open_streams([f"BTC-PERP={a}"])] == ["BTC-PERP"]
    assert [s.symbol for s in open_streams([a])] == ["BTC"]


def test_symbols_filter_and_unknown_symbol(tmp_path: Path) -> None:
    a = write_csv(walk_frame(120, seed=11), tmp_path / "AAA.csv")
    b = write_csv(walk_frame(120, seed=12), tmp_path / "BBB.csv")
    assert [s.symbol for s in open_streams([a, b], symbols=["BBB"])] == ["BBB"]
    with pytest.raises(ReplayInputError, match=r"\['ZZZ'\].*found \['AAA', 'BBB'\]"):
        open_streams([a, b], symbols=["ZZZ"])


def _l3_rows(db: Path) -> dict[str, object]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT key, value FROM cache_entries").fetchall()
    return {k.removeprefix("supreme:"): decode_entry(bytes(v))[0] for k, v in rows}  # the tier's namespace


@pytest.mark.slow
def test_a_killed_replay_keeps_every_flushed_batch_and_resumes(tmp_path: Path) -> None:
    frame = walk_frame(20_000, seed=13)
    path = write_csv(frame, tmp_path / "AAA.csv")
    out = tmp_path / "out"
    # paced at 2,000 candles per second, so the kill lands mid-replay
    cmd = [sys.executable, "-m", "supreme", "replay", "--pipeline", str(path), "--out", str(out),
           "--block", "64", "--speed", str(60 * 2000), "--no-progress", "--no-events"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})
    db = out / "l3.sqlite"
    deadline = time.monotonic() + 60
    position = None
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if db.exists():
            try:
                position = _l3_rows(db).get("replay:replay:position")
            except sqlite3.Error:
                continue
            if position and position["candles"] >= 3000:  # type: ignore[index]
                break
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)

    rows = _l3_rows(db)
    position = rows["replay:replay:position"]
    done = position["candles"]  # type: ignore[index]
    assert 3000 <= done < 20_000
    blocks = sorted((int(k.rsplit(":", 1)[1]), v) for k, v in rows.items() if k.startswith("candles:"))
    candles = np.concatenate([v for _, v in blocks])  # type: ignore[misc]
    # every flushed batch is whole, and the position names exactly what was flushed with it
    assert np.array_equal(candles[:, 0].astype(np.int64), frame["timestamp"].to_numpy()[: len(candles)])
    assert len(candles) == done and position["symbols"]["AAA"] == int(candles[-1, 0])  # type: ignore[index]

    resumed = replay_files([path], out, resume=True, figure=False)
    assert resumed.result.resumed_from == {"AAA": int(candles[-1, 0])}
    assert resumed.result.candles == 20_000 - done
    clean = replay_files([path], tmp_path / "clean", figure=False).result.signals
    rows = _l3_rows(db)
    sig_blocks = sorted((int(k.rsplit(":", 1)[1]), v) for k, v in rows.items() if k.startswith("signals:"))
    sig = np.concatenate([v for _, v in sig_blocks])  # type: ignore[misc]
    assert np.array_equal(sig[:, 1].astype(np.int64), clean["as_of"].to_numpy())  # nothing lost or doubled
    assert np.array_equal(sig[:, 5], clean["confidence"].to_numpy())


def test_a_coarser_timeframe_replays_pandas_resampled_candles(tmp_path: Path) -> None:
    frame = walk_frame(1000, seed=15)
    a = write_csv(frame, tmp_path / "AAA.csv")
    (stream,) = open_streams([a], timeframe="5m")
    loaded = load_ohlcv(a)  # as read from the file (the CSV rounds to 10 digits)
    ts = pd.to_datetime(loaded["timestamp"], unit="ms")
    want = loaded.set_index(ts).resample("5min", label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    assert np.array_equal(stream.frame["close"].to_numpy(), want["close"].to_numpy())
    assert np.array_equal(stream.frame["high"].to_numpy(), want["high"].to_numpy())
    assert stream.timeframe == "5m" and "resampled to 200 5m" in stream.notes[-1]
    signals = replay_files([a], tmp_path / "out5", timeframe="5m", figure=False).result.signals
    assert len(signals) == 200 - 33 and (signals["timeframe"] == "5m").all()
    with pytest.raises(ReplayInputError, match="finer"):
        five = write_csv(walk_frame(100, seed=16, step_ms=300_000), tmp_path / "BBB.csv")
        open_streams([five], timeframe="1m")


def test_trades_aggregate_into_candles_and_too_few_is_a_clear_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(17)
    ts = np.sort(1_640_995_200_000 + rng.integers(0, 300 * 60_000, 5000))
    trades = pd.DataFrame({"timestamp": ts, "price": 100 + np.cumsum(rng.normal(0, 0.05, 5000)),
                           "amount": rng.uniform(0.1, 2, 5000), "side": "buy",
                           "id": [str(i) for i in range(5000)]})
    path = tmp_path / "AAA-trades.parquet"
    trades.to_parquet(path)
    run = replay_files([path], tmp_path / "out", trades=True, timeframe="1m", figure=False)
    candles = run.result.signals
    ref = trades.set_index(pd.to_datetime(trades["timestamp"], unit="ms"))["price"].resample(
        "1min", label="left", closed="left").last().dropna()
    assert run.result.candles == len(ref) - 1  # the last minute has not closed: dropped, not shown
    assert np.array_equal(candles["close"].to_numpy(), ref.to_numpy()[33:-1])
    with pytest.raises(ReplayInputError, match="need --timeframe"):
        open_streams([path], trades=True)
    short = tmp_path / "BBB-trades.parquet"
    trades.iloc[:3].to_parquet(short)
    with pytest.raises(ValueError, match="no candles"):
        replay_files([short], tmp_path / "out2", trades=True, timeframe="1h", figure=False)


def test_streamed_signals_equal_kept_ones(tmp_path: Path) -> None:
    a = write_csv(walk_frame(5000, seed=18), tmp_path / "AAA.csv")
    b = write_csv(walk_frame(4000, seed=19), tmp_path / "BBB.csv")
    kept = replay_files([a, b], tmp_path / "kept", figure=False)
    streamed = replay_files([a, b], tmp_path / "streamed", stream_signals=True,
                            settings=PipelineSettings(block_candles=500))
    assert streamed.result.signals.empty and streamed.result.summary()["signals"] == len(kept.result.signals)
    assert streamed.result.actions == kept.result.actions
    on_disk = pd.read_parquet(streamed.outputs["signals.parquet"]).sort_values(["symbol", "as_of"])
    want = kept.result.signals.sort_values(["symbol", "as_of"])
    pd.testing.assert_frame_equal(on_disk.reset_index(drop=True), want.reset_index(drop=True),
                                  check_dtype=False)
    assert streamed.outputs["price_signals.png"].stat().st_size > 10_000
