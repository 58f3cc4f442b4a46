"""Traces: the two shipped formats agree, round trips, corrupt input, the recorder, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from supreme.cache.policies import POLICIES
from supreme.cache.trace import (
    ORACLE_DTYPE,
    Trace,
    TraceError,
    TraceRecorder,
    load_trace,
    read_csv,
    save_trace,
)
from supreme.cli import main
from tests.conftest import shared_or_skip


@pytest.fixture(scope="module")
def both() -> tuple[Trace, Trace]:
    csv = load_trace(shared_or_skip("cloudPhysicsIO.csv", kind="traces"))
    binary = load_trace(shared_or_skip("cloudPhysicsIO.oracleGeneral.bin", kind="traces"))
    return csv, binary


def test_cloudphysics_formats_agree(both: tuple[Trace, Trace]) -> None:
    csv, binary = both
    assert len(csv) == len(binary) == 113_872
    assert np.array_equal(csv.time, binary.time)
    assert np.array_equal(csv.obj_id.astype(np.uint64), binary.obj_id)
    # the binary's next_access_vtime is exactly what we compute from the id sequence
    assert np.array_equal(binary.next_access_vtime, csv.next_access())  # type: ignore[arg-type]
    assert len(np.unique(binary.obj_id)) == 48_974
    # sizes: the CSV has each request's IO size; the binary agrees on 88 % of records
    same = (csv.obj_size == binary.obj_size).mean()
    assert 0.85 < same < 0.9


def test_round_trips(tmp_path: Path) -> None:
    t = Trace(np.arange(6) * 10, np.array([5, 9, 5, 2**40, 9, 5], dtype=np.uint64),
              np.array([1, 2, 1, 3, 2, 1]))
    for name in ("t.parquet", "t.csv", "t.oracleGeneral.bin"):
        back = load_trace(save_trace(t, tmp_path / name))
        assert np.array_equal(back.time, t.time) and np.array_equal(back.obj_size, t.obj_size)
        assert np.array_equal(back.obj_id.astype(np.uint64), t.obj_id), name
    back = load_trace(tmp_path / "t.oracleGeneral.bin")
    assert list(back.next_access()) == [2, 4, 5, -1, -1, -1]


def test_csv_column_mapping_by_index_and_name(tmp_path: Path) -> None:
    f = tmp_path / "lcs.csv"
    f.write_text("7,100,a,4\n8,200,b,5\n9,100,a,4\n")
    t = read_csv(f, {"time": 1, "obj_id": 2, "obj_size": 4}, header=False)
    assert list(t.obj_id) == [100, 200, 100] and list(t.obj_size) == [4, 5, 4]
    g = tmp_path / "named.csv"
    g.write_text("ts;key;bytes\n1;3;10\n2;4;11\n")
    t = read_csv(g, {"time": "ts", "obj_id": "key", "obj_size": "bytes"}, delimiter=";")
    assert list(t.obj_id) == [3, 4]


def test_truncated_binary_names_file_and_record(tmp_path: Path) -> None:
    rec = np.zeros(3, dtype=ORACLE_DTYPE)
    rec["obj_size"] = 1
    f = tmp_path / "bad.oracleGeneral.bin"
    f.write_bytes(rec.tobytes()[:-5])
    msg = r"bad\.oracleGeneral\.bin: truncated oracleGeneral record 3 at byte 48"
    with pytest.raises(TraceError, match=msg):
        load_trace(f)


@pytest.mark.parametrize("body,msg", [
    ("time,obj_id,obj_size\n1,2,3\n2,x,3\n", r"record 2 \(line 3\): bad obj_id value 'x'"),
    ("time,obj_id,obj_size\n1,2,0\n", r"record 1 \(line 2\): bad obj_size value '0'"),
    ("time,obj_id,obj_size\n1,2,3\n2,3\n", r"record 2 \(line 3\): bad obj_size"),
    ("time,obj_id,obj_size\n1.5,2,3\n", r"bad time value '1.5'"),
])
def test_bad_csv_values(tmp_path: Path, body: str, msg: str) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(body)
    with pytest.raises(TraceError, match=msg):
        load_trace(f)


def test_missing_and_unknown(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="trace file not found"):
        load_trace(tmp_path / "nope.csv")
    (tmp_path / "x.dat").write_text("1")
    with pytest.raises(TraceError, match="cannot tell the trace format"):
        load_trace(tmp_path / "x.dat")
    with pytest.raises(TraceError, match="unknown trace format"):
        load_trace(tmp_path / "x.dat", format="zip")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(TraceError, match="unreadable Parquet"):
        load_trace(tmp_path / "bad.parquet")


def test_recorder_maps_string_keys() -> None:
    rec = TraceRecorder()
    for key in ["btc:1m", "eth:1m", "btc:1m", "sol:5m", "btc:1m"]:
        rec.record(key, size=len(key))
    t = rec.to_trace()
    assert list(t.obj_id) == [0, 1, 0, 2, 0] and rec.key_ids["sol:5m"] == 2
    assert list(t.next_access()) == [2, -1, 4, -1, -1]


def test_cli_simulate_mrc_convert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "t.csv"
    save_trace(Trace.from_ids(np.random.default_rng(0).integers(0, 50, 2000)), src)
    assert main(["trace", "simulate", str(src), "--policy", "arc", "--size", "10"]) == 0
    out = capsys.readouterr().out
    assert "arc" in out and "miss_ratio" in out
    csv_out, png = tmp_path / "mrc.csv", tmp_path / "mrc.png"
    assert main(["trace", "simulate", str(src), "--policy", "all", "--sizes", "5,10,20",
                 "--csv", str(csv_out), "--plot", str(png)]) == 0
    assert csv_out.read_text().count("\n") == 1 + 3 * len(POLICIES) and png.stat().st_size > 1000
    assert main(["trace", "convert", str(src), str(tmp_path / "t.oracleGeneral.bin")]) == 0
    assert len(load_trace(tmp_path / "t.oracleGeneral.bin")) == 2000


@pytest.mark.parametrize("argv,msg", [
    (["--policy", "nope", "--size", "5"], "unknown eviction policy"),
    (["--size", "0"], "--size must be a positive integer"),
    (["--sizes", "5,-1"], "--sizes must be positive"),
])
def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], msg: str) -> None:
    src = tmp_path / "t.csv"
    save_trace(Trace.from_ids([1, 2, 3]), src)
    assert main(["trace", "simulate", str(src), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and msg in err[0]


def test_cli_missing_and_corrupt_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "simulate", str(tmp_path / "no.csv"), "--size", "5"]) == 2
    bad = tmp_path / "b.oracleGeneral.bin"
    bad.write_bytes(b"\x00" * 30)
    assert main(["trace", "simulate", str(bad), "--size", "5"]) == 2
    err = capsys.readouterr().err
    assert "trace file not found" in err and "truncated oracleGeneral record 2" in err
