"""VMware vscsi block traces (versions 1 and 2), plain or zstd, streamed.

Layout (libCacheSim ``traceReader/customizedReader/vscsi.h``), little-endian, naturally aligned:

v1 (32 bytes)  ``uint32 sn, uint32 len, uint32 nSG, uint16 cmd, uint16 ver, uint64 lbn, uint64 ts``
v2 (40 bytes)  ``uint16 cmd, uint16 ver, uint32 sn, uint32 len, uint32 nSG, uint64 lbn, uint64 ts,
               uint64 rt``

The version is ``ver >> 8`` of the first two records (v2 tried first, as libCacheSim does).  A
request is object ``lbn`` of size ``len`` at ``ts`` microseconds, kept (as libCacheSim does) as
whole seconds ``ts // 1_000_000``.  A ``len`` of 0 is an error naming the record.
"""

from __future__ import annotations

import os

import numpy as np

from supreme.cache.trace import Trace, TraceError
from supreme.cache.traces.oracle import _check_sizes
from supreme.cache.traces.stream import iter_records, peek

__all__ = ["VSCSI1_DTYPE", "VSCSI2_DTYPE", "read_vscsi", "vscsi_version"]

VSCSI1_DTYPE = np.dtype([("sn", "<u4"), ("len", "<u4"), ("nsg", "<u4"), ("cmd", "<u2"), ("ver", "<u2"),
                         ("lbn", "<u8"), ("ts", "<u8")])
VSCSI2_DTYPE = np.dtype([("cmd", "<u2"), ("ver", "<u2"), ("sn", "<u4"), ("len", "<u4"), ("nsg", "<u4"),
                         ("lbn", "<u8"), ("ts", "<u8"), ("rt", "<u8")])
_TESTED = 2  # records whose version field must agree


def vscsi_version(head: bytes) -> int:
    """1 or 2 from the first records' version fields; 0 when neither layout fits."""
    if len(head) < VSCSI2_DTYPE.itemsize * _TESTED:
        return 0
    for version, dtype in ((2, VSCSI2_DTYPE), (1, VSCSI1_DTYPE)):
        rec = np.frombuffer(head, dtype=dtype, count=_TESTED)
        if np.all(rec["ver"] >> 8 == version):
            return version
    return 0


def read_vscsi(path: str | os.PathLike[str]) -> Trace:
    """A vscsi trace (version told by its records), plain or zstd-compressed."""
    head = peek(path, VSCSI2_DTYPE.itemsize * _TESTED)
    version = vscsi_version(head)
    if not version:
        raise TraceError(f"{path}: not a vscsi trace (records 1-{_TESTED} carry no vscsi version 1 or 2"
                         + (", or the file is shorter than two records)" if len(head) < 80 else ")"))
    dtype = VSCSI2_DTYPE if version == 2 else VSCSI1_DTYPE
    times, ids, sizes = [], [], []
    for first, rec in iter_records(path, dtype, what=f"vscsi v{version}"):
        _check_sizes(path, first, rec["len"])
        times.append((rec["ts"] // 1_000_000).astype(np.int64))
        ids.append(rec["lbn"].copy())
        sizes.append(rec["len"].astype(np.int64))
    if not ids:
        return Trace(np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0, np.int64))
    return Trace(np.concatenate(times), np.concatenate(ids), np.concatenate(sizes))
