"""``supreme trace info`` and ``supreme trace mrc``, the csv column flags, and ``--sizes auto`` for LRU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import zstandard

from supreme.cache.mrc import lru_distances
from supreme.cache.trace import Trace, save_trace
from supreme.cache.traces import miss_ratio_curve
from supreme.cache.traces.info import reuse_histogram, trace_info
from supreme.cli import main
from tests.conftest import shared_or_skip


def test_info_counts_on_a_small_trace() -> None:
    trace = Trace.from_ids([1, 2, 1, 3, 2, 1, 4], sizes=[10, 20, 10, 5, 20, 10, 7])
    info = trace_info(trace)
    assert (info.requests, info.objects, info.working_set_bytes, info.one_hit_wonders) == (7, 4, 42, 2)
    assert info.bytes_requested == 82 and info.one_hit_wonder_ratio == 0.5
    # distances: cold, cold, 2, cold, 3, 3, cold
    assert lru_distances(trace).tolist() == [-1, -1, 2, -1, 3, 3, -1]
    hist = info.reuse.set_index("bin")["requests"].to_dict()
    assert hist == {"cold": 4, "2-3": 3}


def test_reuse_histogram_bins_and_fractions() -> None:
    hist = reuse_histogram(np.array([-1, 1, 1, 2, 3, 4, 9, 1000]))
    assert hist["bin"].tolist() == ["cold", "1", "2-3", "4-7", "8-15", "512-1023"]
    assert hist["requests"].tolist() == [1, 2, 2, 1, 1, 1]
    assert hist["fraction"].sum() == pytest.approx(1.0)
    assert hist["cumulative_hit_fraction"].iloc[-1] == pytest.approx(7 / 8)


def test_info_working_set_equals_libcachesim() -> None:
    lcs = pytest.importorskip("libcachesim")
    src = shared_or_skip("cloudPhysicsIO.oracleGeneral.bin", kind="traces")
    from supreme.cache.trace import load_trace

    info = trace_info(load_trace(src))
    reader = lcs.TraceReader(str(src), lcs.TraceType.ORACLE_GENERAL_TRACE)
    assert (info.objects, info.working_set_bytes) == tuple(reader.get_working_set_size())
    assert info.requests == reader.get_num_of_req()


def test_cli_info_reads_zstd_csv_with_column_flags(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    rows = "\n".join(f"{i};key-{k};{10 + k}" for i, k in enumerate([3, 1, 3, 2, 3, 1]))
    path = tmp_path / "keys.txt.zst"
    path.write_bytes(zstandard.ZstdCompressor(write_checksum=True).compress(rows.encode()))
    hist = tmp_path / "reuse.csv"
    argv = ["trace", "info", str(path), "--delimiter", ";", "--no-header", "--obj-id-col", "2",
            "--time-col", "1", "--size-col", "3", "--csv", str(hist), "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "txt (zstd)" in out and "requests" in out and "one_hit_wonders" in out
    assert pd.read_csv(hist).set_index("bin")["requests"].to_dict() == {"cold": 3, "2-3": 3}


def test_cli_mrc_exact_and_shards_with_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "t.oracleGeneral.bin"
    rng = np.random.default_rng(3)
    trace = Trace.from_ids(rng.zipf(1.2, 20_000) % 2000)
    save_trace(trace, src)
    out_csv = tmp_path / "mrc.csv"
    assert main(["trace", "mrc", str(src), "--sizes", "10,100,1000", "--shards-rate", "0.5",
                 "--shards-size", "500", "--csv", str(out_csv), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "mean absolute error shards rate 0.5" in out and "mean absolute error shards size 500" in out
    table = pd.read_csv(out_csv)
    exact = miss_ratio_curve(trace, "lru", [10, 100, 1000])
    np.testing.assert_allclose(table["exact"], exact["miss_ratio"])
    assert list(table.columns) == ["size", "exact", "shards rate 0.5", "shards size 500",
                                   "error shards rate 0.5", "error shards size 500"]
    error = (table["shards rate 0.5"] - table["exact"]).abs()
    assert (table["error shards rate 0.5"] - error).abs().max() < 1e-12


def test_cli_mrc_stratified_beside_plain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "t.oracleGeneral.bin"
    save_trace(Trace.from_ids(np.random.default_rng(3).zipf(1.2, 20_000) % 2000), src)
    assert main(["trace", "mrc", str(src), "--sizes", "10,100,1000", "--shards-rate", "1",
                 "--shards-stratified", "--shards-head", "5", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "mean absolute error shards rate 1 stratified head 5: 0.0000" in out


def test_cli_simulate_sizes_auto_uses_one_pass_for_lru(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "t.csv"
    trace = Trace.from_ids(np.random.default_rng(4).integers(0, 3000, 30_000))
    save_trace(trace, src)
    out_csv = tmp_path / "auto.csv"
    assert main(["trace", "simulate", str(src), "--policy", "lru", "--sizes", "auto", "--csv", str(out_csv),
                 "--no-progress"]) == 0
    got = pd.read_csv(out_csv)
    want = miss_ratio_curve(trace, "lru", got["size"].tolist())  # per-size kernel runs
    assert got["hits"].tolist() == want["hits"].tolist()
    assert list(got.columns) == list(want.columns)


@pytest.mark.parametrize("argv,msg", [
    (["mrc", "--sizes", "0,5"], "--sizes must be positive"),
    (["mrc", "--shards-rate", "2"], "rate must be in (0, 1]"),
    (["mrc", "--shards-size", "-1"], "s_max must be a positive integer"),
    (["mrc", "--shards-rate", "0.5", "--shards-stratified", "--shards-head", "-2"],
     "head must be an integer >= 0"),
    (["mrc", "--no-exact"], "nothing to compute"),
    (["mrc", "--points", "0"], "--points must be a positive integer"),
    (["info", "--size-col", "3"], "need --obj-id-col"),
    (["info", "--obj-id-col", "9"], "obj_id field 9 out of range"),
    (["info", "--format", "lcs"], "not an lcs trace"),
])
def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                 msg: str) -> None:
    src = tmp_path / "t.csv"
    save_trace(Trace.from_ids([1, 2, 3, 1]), src)
    assert main(["trace", argv[0], str(src), *argv[1:], "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and msg in err[0], err
