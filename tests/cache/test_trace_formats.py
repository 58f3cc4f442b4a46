"""Every trace reader against libCacheSim's own reader, request for request, plain and zstd.

Each test writes a small synthetic file of its format (layouts from libCacheSim's headers), reads
it with :func:`load_trace` and with ``libcachesim.TraceReader``, and compares time, id and size of
every request.  Bad input (cut-off records, a cut-off or corrupt zstd stream, sizes of 0) must
raise a :class:`TraceError` naming the record.
"""

from __future__ import annotations

import itertools
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zstandard

from supreme.cache.trace import ORACLE_DTYPE, Trace, TraceError, load_trace, save_trace
from supreme.cache.traces.formats import detect_format
from supreme.cache.traces.lcs import LCS_HEADER_BYTES, LCS_MAGIC, lcs_dtype
from supreme.cache.traces.twr import TWR_DTYPE
from supreme.cache.traces.vscsi import VSCSI1_DTYPE, VSCSI2_DTYPE
from tests.conftest import shared_or_skip

lcs_sim = pytest.importorskip("libcachesim")

N = 3000


def _requests(seed: int, n: int = N) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.zipf(1.3, n).astype(np.uint64) + np.uint64(2**40)  # ids past 32 bits
    sizes = (ids % np.uint64(977)).astype(np.int64) + 1  # one size per object
    times = np.sort(rng.integers(0, 10**6, n))
    return times, ids, sizes


def _theirs(path: Path, kind: str, **params: Any) -> list[tuple[int, int, int]]:
    """``(time, id, size)`` of each request as libCacheSim's reader sees it."""
    init = lcs_sim.ReaderInitParam(**{k: v for k, v in params.items() if not k.endswith("_field")})
    for k, v in params.items():
        if k.endswith("_field"):
            setattr(init, k, v)
    reader = lcs_sim.TraceReader(str(path), getattr(lcs_sim.TraceType, kind), init)
    return [(r.clock_time, r.obj_id, r.obj_size) for r in reader]


def _ours(trace: Trace) -> list[tuple[int, int, int]]:
    return list(zip(trace.time.tolist(), trace.obj_id.astype(np.uint64).tolist(), trace.obj_size.tolist(),
                    strict=True))


def _zst(path: Path, *, frames: int = 1) -> Path:
    """``path`` + ``.zst`` with checksums, as the zstd command writes (``frames`` > 1: as ``zstd -T``)."""
    data = path.read_bytes()
    cut = np.linspace(0, len(data), frames + 1).astype(int)
    out = path.with_name(path.name + ".zst")
    out.write_bytes(b"".join(zstandard.ZstdCompressor(level=3, write_checksum=True).compress(data[a:b])
                             for a, b in itertools.pairwise(cut)))
    return out


def _oracle(tmp_path: Path, name: str = "t.oracleGeneral.bin") -> Path:
    times, ids, sizes = _requests(1)
    return save_trace(Trace(times, ids, sizes), tmp_path / name)


def _lcs(tmp_path: Path, version: int) -> Path:
    times, ids, sizes = _requests(version)
    rec = np.zeros(N, lcs_dtype(version))
    rec["time"], rec["obj_id"], rec["obj_size"], rec["next"] = times, ids, sizes, -1
    if version >= 2:
        rec["op_tenant"] = 1 | (7 << 8)
    header = bytearray(LCS_HEADER_BYTES)
    struct.pack_into("<QQqq", header, 0, LCS_MAGIC, version, 1, N)
    struct.pack_into("<Q", header, LCS_HEADER_BYTES - 8, LCS_MAGIC)
    path = tmp_path / f"v{version}.lcs"
    path.write_bytes(bytes(header) + rec.tobytes())
    return path


def _vscsi(tmp_path: Path, version: int) -> Path:
    times, ids, sizes = _requests(10 + version)
    rec = np.zeros(N, VSCSI2_DTYPE if version == 2 else VSCSI1_DTYPE)
    rec["ver"], rec["lbn"], rec["len"] = version << 8, ids, sizes * 512
    rec["ts"] = times * 1000 + 999  # microseconds, not on whole seconds
    path = tmp_path / f"v{version}.vscsi"
    rec.tofile(path)
    return path


def _twr(tmp_path: Path) -> Path:
    times, ids, sizes = _requests(20)
    rec = np.zeros(N, TWR_DTYPE)
    ops = np.random.default_rng(21).choice([1, 3, 4], N)  # get, set, ...
    value = np.where(ids % np.uint64(5) == 0, 0, sizes % 4000).astype(np.uint32)  # some empty gets
    rec["time"], rec["obj_id"] = times, ids
    rec["kv"] = (np.uint32(24) << 22) | value
    rec["op_ttl"] = (ops.astype(np.uint32) << 24) | 3600
    path = tmp_path / "t.twr"
    rec.tofile(path)
    return path


@pytest.mark.parametrize("zst", [False, True])
def test_oracle_general_equals_libcachesim(tmp_path: Path, zst: bool) -> None:
    path = _oracle(tmp_path)
    if zst:
        path = _zst(path, frames=3)
    assert detect_format(path).compressed is zst
    assert _ours(load_trace(path)) == _theirs(path, "ORACLE_GENERAL_TRACE")


@pytest.mark.parametrize("version", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("zst", [False, True])
def test_lcs_equals_libcachesim(tmp_path: Path, version: int, zst: bool) -> None:
    path = _lcs(tmp_path, version)
    if zst:
        path = _zst(path)
    assert detect_format(path).format == "lcs"
    assert _ours(load_trace(path)) == _theirs(path, "LCS_TRACE")


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("zst", [False, True])
def test_vscsi_equals_libcachesim(tmp_path: Path, version: int, zst: bool) -> None:
    plain = _vscsi(tmp_path, version)
    path = _zst(plain) if zst else plain
    # libCacheSim's vscsi reader reads the mapped file directly and aborts the process on a .zst:
    # the compressed case is compared with its reading of the plain file
    assert _ours(load_trace(path)) == _theirs(plain, "VSCSI_TRACE")


@pytest.mark.parametrize("zst", [False, True])
def test_twr_equals_libcachesim(tmp_path: Path, zst: bool) -> None:
    path = _twr(tmp_path)
    if zst:
        path = _zst(path)
    ours = load_trace(path)
    assert 0 < len(ours) < N  # the empty gets are dropped, as libCacheSim drops them
    assert _ours(ours) == _theirs(path, "TWR_TRACE")


def test_csv_column_mapping_equals_libcachesim(tmp_path: Path) -> None:
    times, ids, sizes = _requests(30)
    path = tmp_path / "mapped.csv"
    lines = [f"{s},x,{i},{t}" for t, i, s in zip(times, ids, sizes, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    ours = load_trace(path, columns={"time": 4, "obj_id": 3, "obj_size": 1}, header=False)
    theirs = _theirs(path, "CSV_TRACE", has_header=False, has_header_set=True, obj_id_is_num=True,
                     obj_id_is_num_set=True, time_field=4, obj_id_field=3, obj_size_field=1)
    assert _ours(ours) == theirs


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two id sequences name the same objects in the same order (ids themselves may differ)."""
    def dense(x: np.ndarray) -> np.ndarray:  # ids numbered by first appearance
        _, first, inverse = np.unique(x, return_index=True, return_inverse=True)
        rank = np.empty(len(first), np.int64)
        rank[np.argsort(first)] = np.arange(len(first))
        return rank[inverse]

    return bool(np.array_equal(dense(a), dense(b)))


@pytest.mark.parametrize("zst", [False, True])
def test_csv_string_ids_hashed_like_libcachesim_partition(tmp_path: Path, zst: bool) -> None:
    times, ids, sizes = _requests(31)
    path = tmp_path / "keys.csv"
    lines = [f"{t}\tuser:{i}\t{s}" for t, i, s in zip(times, ids, sizes, strict=True)]
    path.write_text("ts\tkey\tbytes\n" + "\n".join(lines) + "\n")
    plain = path
    if zst:
        path = _zst(path)
    ours = load_trace(path, columns={"time": "ts", "obj_id": "key", "obj_size": "bytes"}, delimiter="\t")
    again = load_trace(path, columns={"time": 1, "obj_id": 2, "obj_size": 3}, delimiter="\t", header=True)
    assert np.array_equal(ours.obj_id, again.obj_id)  # deterministic: same string, same id
    # libCacheSim's csv reader aborts the process on a .zst: it reads the plain file
    theirs = _theirs(plain, "CSV_TRACE", has_header=True, has_header_set=True, delimiter="\t",
                     obj_id_is_num=False, obj_id_is_num_set=True, time_field=1, obj_id_field=2,
                     obj_size_field=3)
    assert [(t, s) for t, _, s in theirs] == [(t, s) for t, _, s in _ours(ours)]
    assert _same_partition(ours.obj_id, np.array([i for _, i, _ in theirs], dtype=np.uint64))
    assert _same_partition(ours.obj_id, ids)


def test_plain_txt_equals_libcachesim(tmp_path: Path) -> None:
    _, ids, _ = _requests(32)
    path = tmp_path / "ids.txt"
    path.write_text("\n".join(map(str, ids)) + "\n")
    assert _ours(load_trace(path)) == _theirs(path, "PLAIN_TXT_TRACE")


def test_shared_trace_zst_is_read_by_magic_not_misread(tmp_path: Path) -> None:
    """The issue's case: a compressed oracleGeneral file is read, not taken for raw records."""
    src = shared_or_skip("cloudPhysicsIO.oracleGeneral.bin", kind="traces")
    plain = load_trace(src)
    copy = tmp_path / "cloudPhysicsIO.oracleGeneral.bin"
    copy.write_bytes(src.read_bytes())
    zst = _zst(copy, frames=2)
    disguised = tmp_path / "disguised.oracleGeneral.bin"  # compressed, but named as plain
    disguised.write_bytes(zst.read_bytes())
    for path in (zst, disguised):
        got = load_trace(path)
        assert np.array_equal(got.obj_id, plain.obj_id) and np.array_equal(got.obj_size, plain.obj_size)
        assert np.array_equal(got.next_access_vtime, plain.next_access_vtime)  # type: ignore[arg-type]
    assert _ours(load_trace(zst)) == _theirs(zst, "ORACLE_GENERAL_TRACE")


def test_shared_csv_equals_libcachesim() -> None:
    src = shared_or_skip("cloudPhysicsIO.csv", kind="traces")
    theirs = _theirs(src, "CSV_TRACE", has_header=True, has_header_set=True, obj_id_is_num=True,
                     obj_id_is_num_set=True, time_field=2, obj_id_field=5, obj_size_field=4)
    assert _ours(load_trace(src)) == theirs


# -- bad input -------------------------------------------------------------------------------------
def test_truncated_zstd_names_the_record(tmp_path: Path) -> None:
    zst = _zst(_oracle(tmp_path))
    cut = tmp_path / "cut.oracleGeneral.bin.zst"
    cut.write_bytes(zst.read_bytes()[:-7])
    with pytest.raises(TraceError, match=r"truncated zstd stream .*, in or after oracleGeneral record 1\b"):
        load_trace(cut)  # one small block: nothing of it decodes
    big = _zst(save_trace(Trace.from_ids(np.arange(200_000) % 5000), tmp_path / "big.oracleGeneral.bin"))
    cut.write_bytes(big.read_bytes()[: big.stat().st_size // 2])
    msg = r"truncated zstd stream .*, in or after oracleGeneral record (\d+)"
    with pytest.raises(TraceError, match=msg) as err:
        load_trace(cut)
    sound = int(str(err.value).rsplit(" ", 1)[1])
    assert 1 < sound < 200_000  # the records before the cut decoded whole
    bad = tmp_path / "bad.oracleGeneral.bin.zst"
    raw = bytearray(zst.read_bytes())
    raw[len(raw) // 2:len(raw) // 2 + 16] = b"\xff" * 16
    bad.write_bytes(bytes(raw))
    with pytest.raises(TraceError, match=r"(corrupt|truncated) zstd stream .*oracleGeneral record \d+"):
        load_trace(bad)


def test_zstd_whose_content_ends_mid_record(tmp_path: Path) -> None:
    rec = np.zeros(4, ORACLE_DTYPE)
    rec["obj_size"] = 1
    path = tmp_path / "short.oracleGeneral.bin.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(rec.tobytes()[:-3]))
    with pytest.raises(TraceError, match=r"truncated oracleGeneral record 4 at byte 72 \(21 of 24 bytes\)"):
        load_trace(path)


@pytest.mark.parametrize("make,field,msg", [
    (lambda p: _lcs(p, 3), "obj_size", r"record 5 has obj_size -4"),
    (lambda p: _vscsi(p, 2), "len", r"record 5 has obj_size 0"),
    (lambda p: _oracle(p), "obj_size", r"record 5 has obj_size 0"),
])
def test_non_positive_sizes_name_the_record(tmp_path: Path, make: Any, field: str, msg: str) -> None:
    path = make(tmp_path)
    raw = bytearray(path.read_bytes())
    skip = LCS_HEADER_BYTES if path.suffix == ".lcs" else 0
    dtype = {".lcs": lcs_dtype(3), ".vscsi": VSCSI2_DTYPE}.get(path.suffix, ORACLE_DTYPE)
    rec = np.frombuffer(raw, dtype=dtype, offset=skip).copy()
    rec[field][4] = np.array(-4).astype(rec[field].dtype) if field == "obj_size" and skip else 0
    path.write_bytes(bytes(raw[:skip]) + rec.tobytes())
    with pytest.raises(TraceError, match=msg):
        load_trace(path)


def test_lcs_header_problems(tmp_path: Path) -> None:
    path = _lcs(tmp_path, 1)
    raw = path.read_bytes()
    (tmp_path / "short.lcs").write_bytes(raw[:100])
    with pytest.raises(TraceError, match="truncated lcs header"):
        load_trace(tmp_path / "short.lcs")
    (tmp_path / "lost.lcs").write_bytes(raw[:-24])  # a whole record lost: the header's count says so
    with pytest.raises(TraceError, match=f"header says {N} requests, the file holds {N - 1}"):
        load_trace(tmp_path / "lost.lcs")
    wrong = bytearray(raw)
    struct.pack_into("<Q", wrong, 8, 12)
    (tmp_path / "v12.lcs").write_bytes(bytes(wrong))
    with pytest.raises(TraceError, match="unsupported lcs version 12"):
        load_trace(tmp_path / "v12.lcs")


def test_vscsi_and_twr_need_their_layout(tmp_path: Path) -> None:
    (tmp_path / "x.vscsi").write_bytes(b"\x00" * 200)
    with pytest.raises(TraceError, match="not a vscsi trace"):
        load_trace(tmp_path / "x.vscsi")
    (tmp_path / "y.twr").write_bytes(b"\x01" * 30)
    with pytest.raises(TraceError, match="truncated twr record 2 at byte 20"):
        load_trace(tmp_path / "y.twr")
    (tmp_path / "z.dat").write_bytes(b"\x07" * 48)
    with pytest.raises(TraceError, match="cannot tell the trace format"):
        load_trace(tmp_path / "z.dat")
    assert load_trace(tmp_path / "z.dat", format="oracleGeneral").obj_size.tolist() == [0x07070707] * 2


def test_a_semicolon_trace_read_with_commas_is_an_error_naming_the_delimiter(tmp_path: Path) -> None:
    from supreme.cache.traces.delimited import read_csv

    path = tmp_path / "t.csv"
    path.write_text("time;obj_id;obj_size\n1;2;3\n2;3;4\n")
    with pytest.raises(TraceError, match="--delimiter ';'"):
        read_csv(path)
    trace = read_csv(path, delimiter=";")
    assert len(trace) == 2 and trace.obj_size.tolist() == [3, 4]
    # string ids that merely contain a ';' in some rows stay one column of ids
    ids = tmp_path / "ids.txt"
    ids.write_text("a;b\nc\nd;e\n")
    assert len(read_csv(ids)) == 3
