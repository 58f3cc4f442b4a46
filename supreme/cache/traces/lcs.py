"""libCacheSim's own ``lcs`` binary trace (versions 1 to 8), plain or zstd, streamed.

Layout (libCacheSim ``traceReader/customizedReader/lcs.h``): an 8192-byte header — ``uint64
start_magic`` 0x123456789abcdef0, ``uint64 version``, a statistics block (``n_req`` at byte 24,
``n_obj`` at 32), ``end_magic`` (the same value) in the last 8 bytes — then packed little-endian
records:

v1  ``uint32 time, uint64 obj_id, uint32 obj_size, int64 next_access_vtime`` (oracleGeneral's)
v2  v1 with ``uint32 op:8 | tenant:24`` before ``next_access_vtime`` (28 bytes)
v3  ``uint32 time, uint64 obj_id, int64 obj_size, uint32 op:8|tenant:24, uint32 ttl, int64 next``
v4-v8  v3 followed by 1, 2, 4, 8 or 16 ``uint32`` features

The header's magic bytes make the format detectable (:func:`is_lcs_header`).  Only time, id, size
and next access are kept.  Departure: a size of 0 or below is an error naming the record
(libCacheSim skips zero-size requests by default).
"""

from __future__ import annotations

import os
import struct
from typing import Any

import numpy as np

from supreme.cache.trace import Trace, TraceError
from supreme.cache.traces.oracle import _check_sizes, records_to_trace
from supreme.cache.traces.stream import iter_records, peek

__all__ = ["LCS_HEADER_BYTES", "LCS_MAGIC", "is_lcs_header", "lcs_dtype", "read_lcs"]

LCS_MAGIC = 0x123456789ABCDEF0
LCS_HEADER_BYTES = 8192
_FEATURES = {4: 1, 5: 2, 6: 4, 7: 8, 8: 16}


def lcs_dtype(version: int) -> np.dtype:
    """The record layout of lcs ``version`` (1 to 8)."""
    if version == 1:
        return np.dtype([("time", "<u4"), ("obj_id", "<u8"), ("obj_size", "<u4"), ("next", "<i8")])
    if version == 2:
        return np.dtype([("time", "<u4"), ("obj_id", "<u8"), ("obj_size", "<u4"), ("op_tenant", "<u4"),
                         ("next", "<i8")])
    if 3 <= version <= 8:
        fields: list[tuple[Any, ...]] = [("time", "<u4"), ("obj_id", "<u8"), ("obj_size", "<i8"),
                                         ("op_tenant", "<u4"), ("ttl", "<u4"), ("next", "<i8")]
        if version in _FEATURES:
            fields.append(("features", "<u4", (_FEATURES[version],)))
        return np.dtype(fields)
    raise TraceError(f"unsupported lcs version {version} (libCacheSim defines 1 to 8)")


def is_lcs_header(head: bytes) -> bool:
    """Whether ``head`` (the first bytes of a stream) starts with the lcs start magic."""
    return len(head) >= 8 and struct.unpack_from("<Q", head)[0] == LCS_MAGIC


def _version(path: str | os.PathLike[str]) -> tuple[int, int]:
    head = peek(path, LCS_HEADER_BYTES)
    if len(head) >= 8 and not is_lcs_header(head):
        raise TraceError(f"{path}: not an lcs trace (no start magic {LCS_MAGIC:#x} at byte 0)")
    if len(head) < LCS_HEADER_BYTES:
        raise TraceError(f"{path}: truncated lcs header ({len(head)} of {LCS_HEADER_BYTES} bytes)")
    start, version = struct.unpack_from("<QQ", head)
    (end,) = struct.unpack_from("<Q", head, LCS_HEADER_BYTES - 8)
    if start != LCS_MAGIC or end != LCS_MAGIC:
        raise TraceError(f"{path}: not an lcs trace (header magic {start:#x} / {end:#x}, "
                         f"expected {LCS_MAGIC:#x})")
    (n_req,) = struct.unpack_from("<q", head, 24)
    return int(version), int(n_req)


def read_lcs(path: str | os.PathLike[str]) -> Trace:
    """An lcs trace (any version), plain or zstd-compressed."""
    version, n_req = _version(path)
    dtype = lcs_dtype(version)
    chunks = []
    for first, rec in iter_records(path, dtype, what=f"lcs v{version}", skip=LCS_HEADER_BYTES):
        _check_sizes(path, first, rec["obj_size"])
        chunks.append(rec[["time", "obj_id", "obj_size", "next"]])
    trace = records_to_trace(chunks)
    if n_req > 0 and n_req != len(trace):  # the header's count: a shorter body lost records
        raise TraceError(f"{path}: lcs header says {n_req} requests, the file holds {len(trace)} "
                         f"(truncated after record {len(trace)}?)")
    return trace
