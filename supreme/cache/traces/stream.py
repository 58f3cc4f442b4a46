"""Reading a trace file as a byte stream, plain or zstd-compressed, in chunks of fixed-size records.

Compression is told by the first four bytes (zstd's frame magic ``28 b5 2f fd``, or a skippable
frame ``5? 2a 4d 18``), never by the name: libCacheSim's traces are usually kept as ``.zst``, and a
compressed file read as raw records fails late and misleadingly ("truncated record 21048").
A compressed file is decompressed as a stream (``zstandard``'s ``decompressobj``, frame after
frame), never to disk.  A frame cut off is an error; a corrupted frame is found by its checksum,
which the ``zstd`` command writes by default (a frame written without one can decode corrupt bytes
unseen: zstd itself cannot tell).

:func:`iter_records` yields the records of one fixed-size layout chunk by chunk, so a reader holds
one chunk of raw bytes at a time; a short last record or a corrupt frame raises
:class:`~supreme.cache.trace.TraceError` naming the file and the record number (counted from 1).
"""

from __future__ import annotations

import io
import os
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
import zstandard

from supreme.cache.trace import TraceError

__all__ = ["CHUNK_RECORDS", "ZSTD_MAGIC", "CorruptStream", "is_zstd", "iter_bytes", "iter_records",
           "open_stream", "peek", "stream_name"]

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
#: records per chunk: a few tens of MiB of raw bytes at most for the widest layouts
CHUNK_RECORDS = 1 << 20


def _head(path: Path, n: int) -> bytes:
    with path.open("rb") as fh:
        return fh.read(n)


def is_zstd(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` starts with a zstd frame (normal or skippable), by its magic bytes."""
    head = _head(Path(path), 4)
    if head == ZSTD_MAGIC:
        return True
    return len(head) == 4 and head[1:] == b"\x2a\x4d\x18" and (head[0] & 0xF0) == 0x50


def stream_name(path: str | os.PathLike[str]) -> str:
    """The file name without a compression suffix (``x.oracleGeneral.bin.zst`` -> ``x.oracleGeneral.bin``)."""
    name = Path(path).name
    for suffix in (".zst", ".zstd"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


class CorruptStream(TraceError):
    """A zstd stream that does not decode, or ends inside a frame."""


#: compressed bytes read from disk per step
READ_BYTES = 1 << 22


def iter_bytes(path: str | os.PathLike[str]) -> Generator[bytes, None, None]:
    """The decompressed bytes of ``path`` in blocks (zstd detected by magic bytes; frames checked whole).

    ``zstandard``'s ``stream_reader`` ends silently at a cut-off frame, so a truncated ``.zst``
    would pass as a shorter trace; here each frame must reach its end, or :class:`TraceError`.
    """
    p = Path(path)
    compressed = is_zstd(p)
    with p.open("rb") as raw:
        if not compressed:
            while block := raw.read(READ_BYTES):
                yield block
            return
        dobj = zstandard.ZstdDecompressor().decompressobj()
        pending = b""
        while True:
            data = pending or raw.read(READ_BYTES)
            pending = b""
            if not data:
                break
            try:
                out = dobj.decompress(data)
            except zstandard.ZstdError as exc:
                raise CorruptStream(f"{p}: corrupt zstd stream ({exc})") from exc
            if out:
                yield out
            if dobj.eof:  # a frame ended: more frames may follow (pzstd, zstd -T, cat a.zst b.zst)
                pending = dobj.unused_data
                dobj = zstandard.ZstdDecompressor().decompressobj()
                if not pending and not (pending := raw.read(READ_BYTES)):
                    return
        raise CorruptStream(f"{p}: truncated zstd stream (the last frame is cut off)")


class _Blocks:
    """``read(n)`` over :func:`iter_bytes` (what pandas and the record reader need)."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._buf = bytearray()

    @property
    def pending(self) -> bytes:
        """Bytes decoded but not read yet."""
        return bytes(self._buf)

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            block = next(self._blocks, None)
            if block is None:
                break
            self._buf += block
        take = len(self._buf) if n < 0 else min(n, len(self._buf))
        out = bytes(self._buf[:take])
        del self._buf[:take]
        return out


@contextmanager
def open_stream(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """The decompressed bytes of ``path`` as a readable binary stream."""
    blocks = iter_bytes(path)
    try:
        yield io.BufferedReader(_RawBlocks(_Blocks(blocks)))
    finally:
        blocks.close()


class _RawBlocks(io.RawIOBase):
    def __init__(self, src: _Blocks) -> None:
        self._src = src

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._src.read(len(b))
        b[: len(data)] = data
        return len(data)


def peek(path: str | os.PathLike[str], n: int) -> bytes:
    """Up to ``n`` first decompressed bytes of ``path``, for telling its format.

    A stream that fails to decode gives what decoded before the fault: the reader that reads it
    next meets the same fault and names the record.
    """
    blocks = iter_bytes(path)
    src = _Blocks(blocks)
    try:
        return src.read(n)
    except CorruptStream:
        return bytes(src._buf[:n])
    finally:
        blocks.close()


def iter_records(path: str | os.PathLike[str], dtype: np.dtype, *, what: str, skip: int = 0,
                 chunk: int = CHUNK_RECORDS) -> Iterator[tuple[int, np.ndarray]]:
    """``(index of the first record, records)`` chunks of ``dtype`` after ``skip`` header bytes."""
    p = Path(path)
    size = dtype.itemsize
    first = 0
    if not is_zstd(p):  # a plain file's length is known: a cut-off tail fails before any record
        nbytes = p.stat().st_size - skip
        if nbytes > 0 and nbytes % size:
            full = nbytes // size
            raise TraceError(f"{p}: truncated {what} record {full + 1} at byte {skip + full * size} "
                             f"({nbytes % size} of {size} bytes)")
    blocks = iter_bytes(p)
    fh = _Blocks(blocks)
    in_header = bool(skip)
    try:
        if skip and len(fh.read(skip)) < skip:
            raise TraceError(f"{p}: truncated {what} header (shorter than {skip} bytes)")
        in_header = False
        while True:
            block = fh.read(chunk * size)
            whole = len(block) // size
            if whole:
                yield first, np.frombuffer(block, dtype=dtype, count=whole)
            if len(block) % size:
                rec = first + whole
                raise TraceError(
                    f"{p}: truncated {what} record {rec + 1} at byte {skip + rec * size} "
                    f"({len(block) % size} of {size} bytes)")
            first += whole
            if len(block) < chunk * size:
                return
    except CorruptStream as exc:  # the records decoded whole before the fault are sound
        sound = first if in_header else first + len(fh.pending) // size
        raise TraceError(f"{exc}, in or after {what} record {sound + 1}") from exc
    except OSError as exc:
        raise TraceError(f"{p}: unreadable at {what} record {first + 1} ({exc})") from exc
    finally:
        blocks.close()
