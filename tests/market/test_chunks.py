"""Chunked loading: the same frames and the same messages as whole-file loading, across chunk boundaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from supreme.market import DataValidationError, arrow_csv, load_ohlcv, load_trades, report_of
from supreme.market.arrow_csv import stage_csv_chunks
from supreme.market.chunks import iter_ohlcv_chunks, iter_trades_chunks
from supreme.market.formats import stage_csv
from tests.conftest import shared_or_skip

HEADER = "timestamp,open,high,low,close,volume"
T0 = 1_700_000_000_000


def candle_lines(n: int) -> list[str]:
    return [f"{T0 + 60_000 * i},10,12,9,11,{i + 1}" for i in range(n)]


def write(tmp_path: Path, lines: list[str], name: str = "big.csv", header: str | None = HEADER) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(([header] if header else []) + lines) + "\n")
    return path


def first_error(path: Path, chunk_rows: int, **kwargs: object) -> tuple[int, DataValidationError]:
    """Chunks yielded before the error, and the error."""
    seen = 0
    with pytest.raises(DataValidationError) as info:
        for _ in iter_ohlcv_chunks(path, chunk_rows, **kwargs):  # type: ignore[arg-type]
            seen += 1
    return seen, info.value


@pytest.mark.parametrize(
    ("relative", "chunk_rows"),
    [
        ("nautilus/btc-perp-20211231-20220201_1m.csv", 1_000),
        ("nautilus/btc-perp-20211231-20220201_1m.csv", 30_000),
        ("nautilus/ADABTC-1m-2021-11-27.csv", 3),
        ("freqtrade/UNITTEST_BTC-1m.feather", 777),
        ("freqtrade/XRP_USDT_USDT-1h-mark.feather", 7),
    ],
)
def test_chunks_add_up_to_the_whole_file(relative: str, chunk_rows: int) -> None:
    path = shared_or_skip(relative)
    whole = load_ohlcv(path)
    parts = list(iter_ohlcv_chunks(path, chunk_rows))
    assert all(len(p) <= chunk_rows for p in parts)
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole, check_exact=True)
    reports = [report_of(p) for p in parts]
    assert sum(r.rows_read for r in reports) == report_of(whole).rows_read  # type: ignore[union-attr]
    gaps = [g for r in reports for g in r.gap_rows]  # type: ignore[union-attr]
    assert gaps == list(report_of(whole).gap_rows)  # type: ignore[union-attr]


def test_unittest_gaps_across_chunk_boundaries_are_all_reported() -> None:
    path = shared_or_skip("freqtrade/UNITTEST_BTC-1m.json")
    frame = load_ohlcv(path)
    whole_gaps = report_of(frame).gap_rows  # type: ignore[union-attr]
    feather = shared_or_skip("freqtrade/UNITTEST_BTC-1m.feather")
    chunk_gaps = [g for p in iter_ohlcv_chunks(feather, 500) for g in report_of(p).gap_rows]  # type: ignore[union-attr]
    assert chunk_gaps == list(whole_gaps) and len(chunk_gaps) == 538


@pytest.mark.parametrize(
    ("relative", "chunk_rows"),
    [
        ("nautilus/btcusdt-trades.parquet", 300),
        ("freqtrade/XRP_ETH-trades.feather", 1_000),
        ("freqtrade/BCHEUR.csv", 100),
        ("nautilus/bitmex_trades_XBTUSD.csv", 3),
    ],
)
def test_trade_chunks_add_up_to_the_whole_file(relative: str, chunk_rows: int) -> None:
    path = shared_or_skip(relative)
    parts = list(iter_trades_chunks(path, chunk_rows))
    assert len(parts) > 1 and all(len(p) <= chunk_rows for p in parts)
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), load_trades(path), check_exact=True)


def test_broken_row_in_the_middle_of_chunk_two(tmp_path: Path) -> None:
    lines = candle_lines(300)
    lines[149] = lines[149].replace(",11,", ",abc,")  # row 150: the middle of rows 101-200
    path = write(tmp_path, lines)
    seen, error = first_error(path, 100)
    assert seen == 1  # chunk 1 came out clean before chunk 2 failed
    assert str(error) == f"{path}: row 150 (line 151): close value 'abc' is not a number"
    assert (error.row, error.line) == (150, 151)
    with pytest.raises(DataValidationError) as whole:
        load_ohlcv(path)
    assert str(whole.value) == str(error)  # the same message as the whole-file loader
    parts = list(iter_ohlcv_chunks(path, 100, on_error="skip"))
    assert [len(p) for p in parts] == [100, 99, 100]
    report = report_of(parts[1])
    assert report is not None and [(i.row, i.line) for i in report.issues] == [(150, 151)]
    assert report.rows_read == 100 and len(report.gap_rows) == 1  # the dropped candle is a gap


def test_duplicate_timestamp_across_a_chunk_boundary(tmp_path: Path) -> None:
    lines = candle_lines(201)
    lines[100] = lines[99]  # row 101 (first of chunk 2) repeats row 100 (last of chunk 1)
    path = write(tmp_path, lines[:100] + lines[100:])
    seen, error = first_error(path, 100)
    assert seen == 1
    assert f"{path}: row 101 (line 102): timestamp {T0 + 60_000 * 99} " in str(error)
    assert str(error).endswith("is duplicated")
    with pytest.raises(DataValidationError) as whole:
        load_ohlcv(path)
    assert str(whole.value) == str(error)
    kept = pd.concat(iter_ohlcv_chunks(path, 100, on_error="skip"), ignore_index=True)
    assert len(kept) == 200 and kept["timestamp"].is_monotonic_increasing


def test_out_of_order_row_across_a_boundary_is_not_reordered(tmp_path: Path) -> None:
    lines = candle_lines(200)
    lines[99], lines[100] = lines[100], lines[99]  # rows 100 and 101 swapped, across the boundary
    path = write(tmp_path, lines)
    seen, error = first_error(path, 100)
    assert seen == 1
    assert f"row 101 (line 102): timestamp {T0 + 60_000 * 99} " in str(error) and "out of order" in str(error)
    parts = list(iter_ohlcv_chunks(path, 100, on_error="skip"))
    kept = pd.concat(parts, ignore_index=True)
    # The late candle is dropped and reported, never moved back into place.
    assert T0 + 60_000 * 99 not in set(kept["timestamp"]) and kept["timestamp"].is_monotonic_increasing
    assert [i.row for i in report_of(parts[1]).issues] == [101]  # type: ignore[union-attr]


def test_gap_across_a_boundary_is_reported_not_filled(tmp_path: Path) -> None:
    lines = candle_lines(205)
    path = write(tmp_path, lines[:100] + lines[105:])  # 5 candles missing right at the boundary
    parts = list(iter_ohlcv_chunks(path, 100))
    assert report_of(parts[0]).gap_rows == ()  # type: ignore[union-attr]
    assert report_of(parts[1]).gap_rows == ((T0 + 60_000 * 99, T0 + 60_000 * 105, 5),)  # type: ignore[union-attr]
    assert sum(len(p) for p in parts) == 200


def test_field_count_blank_lines_and_lines_match_the_stdlib_reader(tmp_path: Path) -> None:
    body = candle_lines(12)
    body[4] = "1700000240000,10,12"  # too few fields
    body[9] = body[9] + ",7"  # too many
    text = "\n\n" + HEADER + "\n" + "\n".join(body[:6]) + "\n   \n,,,,,\n\n" + "\n".join(body[6:]) + "\n\n"
    path = tmp_path / "messy.csv"
    path.write_text(text)
    columns = HEADER.split(",")
    _, lines, problems = stage_csv(path, columns, header=True, source=str(path))
    kinds = {c: "number" for c in columns}
    for chunk_rows in (None, 1, 3, 5):
        chunks = list(stage_csv_chunks(path, columns, header=True, kinds=kinds, chunk_rows=chunk_rows))  # type: ignore[arg-type]
        assert np.concatenate([c.lines for c in chunks]).tolist() == lines.tolist()
        merged = {c.first_row + pos: msg for c in chunks for pos, msg in c.problems.items()}
        assert merged == problems
    with pytest.raises(DataValidationError, match=r"row 5 \(line 8\): has 3 fields, expected 6"):
        list(iter_ohlcv_chunks(path, 3))


def test_quoted_file_takes_the_stdlib_reader_with_the_same_result(tmp_path: Path) -> None:
    lines = candle_lines(50)
    plain = write(tmp_path, lines, name="plain.csv")
    quoted = write(tmp_path, [f'"{ln.split(",")[0]}",{ln.split(",", 1)[1]}' for ln in lines], name="q.csv")
    assert arrow_csv.arrow_can_stage(plain) and not arrow_csv.arrow_can_stage(quoted)
    a = pd.concat(iter_ohlcv_chunks(plain, 20), ignore_index=True)
    b = pd.concat(iter_ohlcv_chunks(quoted, 20), ignore_index=True)
    pd.testing.assert_frame_equal(a, b)


def test_load_ohlcv_pyarrow_path_equals_the_stdlib_path(monkeypatch: pytest.MonkeyPatch) -> None:
    path = shared_or_skip("nautilus/btc-perp-20211231-20220201_1m.csv")
    fast = load_ohlcv(path)
    monkeypatch.setattr(arrow_csv, "arrow_can_stage", lambda p: False)
    slow = load_ohlcv(path)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert fast.attrs == slow.attrs


def test_parquet_duplicate_across_batches(tmp_path: Path) -> None:
    ts = T0 + 60_000 * np.arange(40, dtype=np.int64)
    ts[20] = ts[19]
    frame = pd.DataFrame({"timestamp": ts, "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 3.0})
    frame.to_parquet(tmp_path / "d.parquet", row_group_size=7)
    with pytest.raises(DataValidationError, match=r"d\.parquet: row 21: timestamp .* is duplicated"):
        list(iter_ohlcv_chunks(tmp_path / "d.parquet", 20))


def test_trades_duplicate_id_and_late_trade_across_boundary(tmp_path: Path) -> None:
    header = "timestamp,symbol,side,price,amount,id"
    rows = [f"{T0 + i},BTC/USDT,buy,1,1,t{i}" for i in range(10)]
    rows[5] = f"{T0 + 5},BTC/USDT,buy,1,1,t4"  # chunk 2's first trade repeats chunk 1's last id
    path = write(tmp_path, rows, name="t.csv", header=header)
    with pytest.raises(DataValidationError, match=r"row 6 \(line 7\): trade id 't4' is duplicated"):
        list(iter_trades_chunks(path, 5))
    late = ["1672620536,90,1", "1672620537,90,1", "1672620500,90,1"]
    kraken = write(tmp_path, late, name="K.csv", header=None)
    with pytest.raises(DataValidationError, match=r"K\.csv: row 3 \(line 3\): timestamp .* out of order"):
        list(iter_trades_chunks(kraken, 2))


def test_bad_chunk_size_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, candle_lines(3))
    with pytest.raises(ValueError, match="chunk_rows must be a positive"):
        next(iter_ohlcv_chunks(path, 0))


def test_package_exports_the_new_loaders_and_resamplers() -> None:
    import supreme.market as market

    for name in ("iter_ohlcv_chunks", "iter_trades_chunks", "resample_candles", "trades_to_candles"):
        assert name in market.__all__ and callable(getattr(market, name))


def test_gzipped_csv_streams_like_the_plain_file(tmp_path: Path) -> None:
    import gzip

    lines = candle_lines(120)
    lines[70] = lines[70].replace(",12,", ",8,")  # high 8 < low 9 on row 71
    plain = write(tmp_path, lines)
    packed = tmp_path / "big.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, packed):
        with pytest.raises(DataValidationError, match=r"row 71 \(line 72\): high 8\.0 < low 9\.0"):
            list(iter_ohlcv_chunks(path, 50))
    pd.testing.assert_frame_equal(
        load_ohlcv(packed, on_error="skip"), load_ohlcv(plain, on_error="skip"), check_exact=True
    )
