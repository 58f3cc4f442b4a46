"""Twitter's key-value cache traces in libCacheSim's ``twr`` binary form, plain or zstd, streamed.

Layout (libCacheSim ``traceReader/customizedReader/twrBin.h``): 20-byte little-endian records
``uint32 time, uint64 obj_id, uint32 key_size:10 (high) | value_size:22, uint32 op:8 (high) |
ttl:24``.  A request's size is key size + value size.

As libCacheSim does (``ignore_size_zero_req``), a get (op 1) or gets (op 2) whose value size is 0
is dropped: it is a lookup of an absent key in the original cache, with no object to keep.  A
request whose key and value sizes are both 0 is an error naming the record.
"""

from __future__ import annotations

import os

import numpy as np

from supreme.cache.trace import Trace
from supreme.cache.traces.oracle import _check_sizes
from supreme.cache.traces.stream import iter_records

__all__ = ["TWR_DTYPE", "read_twr"]

TWR_DTYPE = np.dtype([("time", "<u4"), ("obj_id", "<u8"), ("kv", "<u4"), ("op_ttl", "<u4")])
_GET_OPS = (1, 2)  # libCacheSim's OP_GET, OP_GETS


def read_twr(path: str | os.PathLike[str]) -> Trace:
    """A twr trace, plain or zstd-compressed (empty gets dropped as libCacheSim does)."""
    times, ids, sizes = [], [], []
    for first, rec in iter_records(path, TWR_DTYPE, what="twr"):
        key = (rec["kv"] >> 22) & 0x3FF
        value = rec["kv"] & 0x3FFFFF
        op = (rec["op_ttl"] >> 24) & 0xFF
        keep = ~((value == 0) & np.isin(op, _GET_OPS))
        size = (key + value).astype(np.int64)
        _check_sizes(path, first, np.where(keep, size, 1))
        times.append(rec["time"][keep].astype(np.int64))
        ids.append(rec["obj_id"][keep].copy())
        sizes.append(size[keep])
    if not ids:
        return Trace(np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0, np.int64))
    return Trace(np.concatenate(times), np.concatenate(ids), np.concatenate(sizes))
