"""libCacheSim's oracleGeneral binary trace: read (plain or zstd, streamed) and write.

Layout (libCacheSim ``traceReader/customizedReader/oracle/oracleGeneralBin.h``): 24-byte
little-endian records ``uint32 clock_time, uint64 obj_id, uint32 obj_size, int64
next_access_vtime``; ``next_access_vtime`` is the 1-based position of the object's next request,
-1 (or INT64_MAX) when there is none.  :attr:`Trace.next_access_vtime` holds 0-based positions.

Departure from libCacheSim: a record of size 0 is an error naming the record (libCacheSim skips
such requests silently by default, ``ignore_size_zero_req``), so no request is dropped unseen.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from supreme.cache.trace import ORACLE_DTYPE, Trace, TraceError
from supreme.cache.traces.stream import iter_records

__all__ = ["ORACLE_DTYPE", "iter_oracle_general", "read_oracle_general", "records_to_trace",
           "write_oracle_general"]

_NEVER = np.iinfo(np.int64).max


def iter_oracle_general(path: str | os.PathLike[str]) -> Iterator[tuple[int, np.ndarray]]:
    """``(first record index, records)`` chunks of an oracleGeneral file (``ORACLE_DTYPE``)."""
    for first, rec in iter_records(path, ORACLE_DTYPE, what="oracleGeneral"):
        _check_sizes(path, first, rec["obj_size"])
        yield first, rec


def _check_sizes(path: str | os.PathLike[str], first: int, sizes: np.ndarray) -> None:
    bad = np.flatnonzero(sizes <= 0)
    if len(bad):
        raise TraceError(f"{path}: record {first + bad[0] + 1} has obj_size {sizes[bad[0]]} "
                         "(sizes must be positive)")


def records_to_trace(chunks: list[np.ndarray], *, next_field: str | None = "next") -> Trace:
    """One :class:`Trace` from chunks of records with fields time, obj_id, obj_size[, next]."""
    rec = np.concatenate(chunks) if chunks else np.zeros(0, ORACLE_DTYPE)
    nxt = None
    if next_field is not None:
        raw = rec[next_field].astype(np.int64)
        nxt = np.where((raw > 0) & (raw != _NEVER), raw - 1, -1)  # 1-based on disk
    return Trace(rec["time"].astype(np.int64), rec["obj_id"].astype(np.uint64),
                 rec["obj_size"].astype(np.int64), nxt)


def read_oracle_general(path: str | os.PathLike[str]) -> Trace:
    """An oracleGeneral trace, plain or zstd-compressed (told by magic bytes, streamed)."""
    return records_to_trace([rec for _, rec in iter_oracle_general(path)])


def write_oracle_general(trace: Trace, path: str | os.PathLike[str]) -> Path:
    """Write ``trace`` as oracleGeneral (next access filled in); the path written."""
    p = Path(path)
    if len(trace) and (trace.time.min() < 0 or trace.time.max() > 0xFFFFFFFF
                       or trace.obj_size.max() > 0xFFFFFFFF or trace.obj_id.min() < 0):
        raise TraceError(f"{p}: values do not fit oracleGeneral's uint32 time/size or uint64 id")
    rec = np.empty(len(trace), dtype=ORACLE_DTYPE)
    rec["time"], rec["obj_id"], rec["obj_size"] = trace.time, trace.obj_id, trace.obj_size
    nxt = trace.next_access()
    rec["next"] = np.where(nxt >= 0, nxt + 1, -1)
    rec.tofile(p)
    return p
