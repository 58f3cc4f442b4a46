"""Every validation error on a small broken file: the message names the file, the row and the problem."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from supreme.errors import SupremeError
from supreme.market import DataValidationError, find_gaps, load_ohlcv, load_trades, report_of

HEADER = "timestamp,open,high,low,close,volume"
GOOD = [
    "1700000000000,10,12,9,11,5",
    "1700000060000,11,13,10,12,6",
    "1700000120000,12,14,11,13,7",
]


def write(tmp_path: Path, lines: list[str], name: str = "bad.csv", header: str | None = HEADER) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(([header] if header else []) + lines) + "\n")
    return path


def test_error_type_is_supreme_and_value_error() -> None:
    assert issubclass(DataValidationError, SupremeError) and issubclass(DataValidationError, ValueError)


@pytest.mark.parametrize(
    ("bad_row", "expected"),
    [
        ("1700000060000,11,13,10,abc,6", r"row 2 \(line 3\): close value 'abc' is not a number"),
        ("1700000060000,11,13,10,12,", r"row 2 \(line 3\): volume is missing \(NaN\)"),
        ("1700000060000,11,13,NaN,12,6", r"row 2 \(line 3\): low is missing \(NaN\)"),
        ("1700000060000,11,13,-1,12,6", r"row 2 \(line 3\): low -1\.0 is not a positive price"),
        ("1700000060000,0,13,10,12,6", r"row 2 \(line 3\): open 0\.0 is not a positive price"),
        ("1700000060000,11,9,10,10,6", r"row 2 \(line 3\): high 9\.0 < low 10\.0"),
        ("1700000060000,14,13,10,12,6", r"row 2 \(line 3\): open 14\.0 outside \[low 10\.0, high 13\.0\]"),
        ("1700000060000,11,13,10,9,6", r"row 2 \(line 3\): close 9\.0 outside \[low 10\.0, high 13\.0\]"),
        ("1700000060000,11,13,10,12,-6", r"row 2 \(line 3\): volume -6\.0 is negative"),
        ("1700000060000,11,13,10,12", r"row 2 \(line 3\): has 5 fields, expected 6"),
        ("1700000060000,11,13,10,12,6,7", r"row 2 \(line 3\): has 7 fields, expected 6"),
        ("soon,11,13,10,12,6", r"row 2 \(line 3\): timestamp value 'soon' is not a time"),
    ],
)
def test_bad_row_raises_naming_file_row_and_problem(tmp_path: Path, bad_row: str, expected: str) -> None:
    path = write(tmp_path, [GOOD[0], bad_row, GOOD[2]])
    with pytest.raises(DataValidationError, match=expected) as info:
        load_ohlcv(path)
    assert str(path) in str(info.value)
    assert info.value.row == 2 and info.value.line == 3


def test_same_bad_row_skipped_and_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, [GOOD[0], "1700000060000,11,9,10,10,6", GOOD[2]])
    with caplog.at_level(logging.WARNING):
        frame = load_ohlcv(path, on_error="skip")
    assert frame["timestamp"].tolist() == [1700000000000, 1700000120000]
    report = report_of(frame)
    assert report is not None and report.rows_read == 3 and report.rows_kept == 2
    assert [(i.row, i.line) for i in report.issues] == [(2, 3)]
    assert "high 9.0 < low 10.0" in report.issues[0].problem
    assert "row 2 (line 3)" in caplog.text and "dropped" in caplog.text
    assert len(report.gaps) == 1  # the dropped row leaves a reported gap, not a filled one


def test_out_of_order_and_duplicate_timestamps(tmp_path: Path) -> None:
    path = write(tmp_path, [GOOD[0], GOOD[2], GOOD[1]])
    with pytest.raises(
        DataValidationError, match=r"row 3 \(line 4\): timestamp 1700000060000 .* out of order"
    ):
        load_ohlcv(path)
    path = write(tmp_path, [GOOD[0], GOOD[1], GOOD[1]], name="dup.csv")
    with pytest.raises(
        DataValidationError, match=r"dup\.csv: row 3 \(line 4\): timestamp 1700000060000 .*duplicated"
    ):
        load_ohlcv(path)
    frame = load_ohlcv(path, on_error="skip")
    assert len(frame) == 2 and report_of(frame).issues[0].row == 3  # type: ignore[union-attr]


def test_many_bad_rows_all_reported(tmp_path: Path) -> None:
    path = write(tmp_path, [GOOD[0], "x,1,1,1,1,1", "1700000120000,1,0.5,1,1,1", GOOD[2]])
    with pytest.raises(DataValidationError, match=r"row 2 .*'x' is not a time \(and 1 more bad rows"):
        load_ohlcv(path)
    frame = load_ohlcv(path, on_error="skip")
    assert [i.row for i in report_of(frame).issues] == [2, 3]  # type: ignore[union-attr]
    assert frame["timestamp"].tolist() == [1700000000000, 1700000120000]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("timestamp,open,high,low,close", r"missing column\(s\) \['volume'\]"),
        ("timestamp,open,high,low,close,volume,trades", r"unexpected column\(s\) \['trades'\]"),
    ],
)
def test_missing_or_extra_columns(tmp_path: Path, header: str, expected: str) -> None:
    path = write(tmp_path, ["1700000000000,10,12,9,11,5"], header=header)
    with pytest.raises(DataValidationError, match=expected) as info:
        load_ohlcv(path, format="csv")
    assert "header" in str(info.value) and str(path) in str(info.value)


def test_timestamp_units_and_iso(tmp_path: Path) -> None:
    want = [1700000000000, 1700000060000]
    for name, stamps in [
        ("s.csv", ["1700000000", "1700000060"]),
        ("us.csv", ["1700000000000000", "1700000060000000"]),
        ("iso.csv", ["2023-11-14T22:13:20Z", "2023-11-14 22:14:20"]),
        ("zoned.csv", ["2023-11-14T23:13:20+01:00", "2023-11-14T23:14:20+01:00"]),
    ]:
        path = write(tmp_path, [f"{t},10,12,9,11,5" for t in stamps], name=name)
        assert load_ohlcv(path)["timestamp"].tolist() == want, name


def test_ccxt_json_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps([[1700000000000, 1, 2, 0.5, 1, 3], [1700000060000, 1, 2, 0.5, 1], None]))
    with pytest.raises(DataValidationError, match=r"c\.json: row 2: has 5 values, expected 6"):
        load_ohlcv(path)
    frame = load_ohlcv(path, on_error="skip")
    assert len(frame) == 1 and [i.row for i in report_of(frame).issues] == [2, 3]  # type: ignore[union-attr]
    path.write_text("[[1, 2")
    with pytest.raises(DataValidationError, match="not valid JSON"):
        load_ohlcv(path)


def test_parquet_nan_row(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "timestamp": [1700000000000, 1700000060000],
            "open": [1.0, float("nan")],
            "high": [2.0, 2.0],
            "low": [0.5, 0.5],
            "close": [1.0, 1.0],
            "volume": [1.0, 1.0],
        }
    )
    frame.to_parquet(tmp_path / "n.parquet")
    with pytest.raises(DataValidationError, match=r"n\.parquet: row 2: open is missing"):
        load_ohlcv(tmp_path / "n.parquet")


def test_find_gaps_counts_missing_candles() -> None:
    frame = pd.DataFrame({"timestamp": [0, 60_000, 300_000, 360_000]})
    gaps = find_gaps(frame, "1m")
    assert gaps[["after_ms", "resume_ms", "missing"]].values.tolist() == [[60_000, 300_000, 3]]
    assert gaps["duration"].iloc[0] == pd.Timedelta(minutes=4)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            ["1672620536,90.07,1.1", "1672621569,-90,0.05"],
            r"row 2 \(line 2\): price -90\.0 is not a positive price",
        ),
        (["1672620536,90.07,1.1", "1672621569,90,0"], r"row 2 \(line 2\): amount 0\.0 is not positive"),
        (["1672620536,90.07,1.1", "1672620000,90,0.5"], r"row 2 \(line 2\): timestamp .* out of order"),
        (
            ["1672620536,90.07,1.1", "1672621569,oops,0.5"],
            r"row 2 \(line 2\): price value 'oops' is not a number",
        ),
    ],
)
def test_kraken_trades_bad_rows(tmp_path: Path, lines: list[str], expected: str) -> None:
    path = write(tmp_path, lines, name="BCHEUR.csv", header=None)
    with pytest.raises(DataValidationError, match=expected):
        load_trades(path)
    assert len(load_trades(path, on_error="skip")) == 1


def test_trades_csv_bad_side_and_duplicate_id(tmp_path: Path) -> None:
    header = "timestamp,symbol,side,price,amount,id"
    path = write(
        tmp_path,
        ["1700000000000,BTC/USDT,buy,1,1,a", "1700000000000,BTC/USDT,hold,1,1,b"],
        name="t.csv",
        header=header,
    )
    with pytest.raises(DataValidationError, match=r"row 2 \(line 3\): side 'hold' is not 'buy' or 'sell'"):
        load_trades(path)
    path = write(
        tmp_path,
        ["1700000000000,BTC/USDT,buy,1,1,a", "1700000000000,BTC/USDT,sell,1,1,a"],
        name="t2.csv",
        header=header,
    )
    with pytest.raises(DataValidationError, match=r"row 2 \(line 3\): trade id 'a' is duplicated"):
        load_trades(path)
    # Same millisecond, different ids: legal.
    path = write(
        tmp_path,
        ["1700000000000,BTC/USDT,buy,1,1,a", "1700000000000,BTC/USDT,sell,1,1,b"],
        name="t3.csv",
        header=header,
    )
    assert len(load_trades(path)) == 2


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_ohlcv(tmp_path / "nope.csv")
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(DataValidationError, match="unknown file type"):
        load_ohlcv(tmp_path / "x.xlsx")
    with pytest.raises(ValueError, match="on_error"):
        load_ohlcv(write(tmp_path, [GOOD[0], "1,1,1,1,1,1"], name="e.csv"), on_error="ignore")  # type: ignore[arg-type]
