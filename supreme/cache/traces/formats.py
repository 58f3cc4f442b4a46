"""Which reader a trace file needs: magic bytes first, then the name, and one ``load`` for all.

Order of evidence (a name can lie, content cannot):

1. zstd frame magic: the file is decompressed as a stream and the rest is decided on its content
   and on the name without ``.zst``;
2. ``PAR1`` (Parquet) or lcs's start magic at byte 0;
3. the name: ``vscsi``, ``twr``, ``oracleGeneral``/``.bin``, ``.lcs``, ``.parquet``/``.pq``,
   ``.csv``/``.tsv``/``.txt``;
4. the version fields of vscsi records.

oracleGeneral and twr records carry no magic, so a binary file named neither needs ``format=``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supreme.cache.trace import FORMATS, Trace, TraceError, read_parquet
from supreme.cache.traces.lcs import is_lcs_header, read_lcs
from supreme.cache.traces.oracle import read_oracle_general
from supreme.cache.traces.stream import is_zstd, peek, stream_name
from supreme.cache.traces.twr import read_twr
from supreme.cache.traces.vscsi import read_vscsi, vscsi_version

__all__ = ["Source", "detect_format", "load", "normalize_format"]

_BY_NAME: tuple[tuple[str, str], ...] = (
    ("vscsi", "vscsi"), ("twr", "twr"), ("oraclegeneral", "oraclegeneral"), (".lcs", "lcs"),
    (".parquet", "parquet"), (".pq", "parquet"), (".bin", "oraclegeneral"), (".csv", "csv"),
    (".tsv", "csv"), (".txt", "txt"),
)


@dataclass(frozen=True)
class Source:
    """A trace file's format and whether it is zstd-compressed."""

    path: Path
    format: str
    compressed: bool


def normalize_format(name: str) -> str:
    """``"oracle_general"``, ``"oracleGeneral"`` ... as one of :data:`FORMATS`, or an error."""
    fmt = name.lower().replace("_", "").replace("-", "")
    if fmt not in FORMATS:
        raise TraceError(f"unknown trace format {name!r}; valid: {', '.join(FORMATS)}")
    return fmt


def detect_format(path: str | os.PathLike[str], format: str = "auto") -> Source:
    """The reader ``path`` needs (``format`` other than auto is taken as given)."""
    p = Path(path)
    if not p.is_file():
        raise TraceError(f"{p}: trace file not found")
    fmt = normalize_format(format)
    compressed = is_zstd(p)
    if fmt != "auto":
        return Source(p, fmt, compressed)
    head = peek(p, 80)
    if head.startswith(b"PAR1"):
        fmt = "parquet"
    elif is_lcs_header(head):
        fmt = "lcs"
    else:
        name = stream_name(p).lower()
        fmt = next((f for token, f in _BY_NAME if token in name), "")
        if not fmt and vscsi_version(head):
            fmt = "vscsi"
    if not fmt:
        raise TraceError(f"{p}: cannot tell the trace format from the content or the name; "
                         f"pass a format ({', '.join(FORMATS[1:])})")
    return Source(p, fmt, compressed)


def load(path: str | os.PathLike[str], format: str = "auto", **csv_options: Any) -> Trace:
    """Read a trace in any supported format, plain or zstd-compressed."""
    src = detect_format(path, format)
    if csv_options and src.format not in ("csv", "txt"):
        given = ", ".join(sorted(csv_options))
        raise TraceError(f"{src.path}: column options ({given}) apply to csv/txt traces, not {src.format}")
    if src.format == "parquet":
        if src.compressed:
            raise TraceError(f"{src.path}: zstd-compressed Parquet is not supported (Parquet "
                             "compresses its own columns): decompress it or write it uncompressed")
        return read_parquet(src.path)
    if src.format == "oraclegeneral":
        return read_oracle_general(src.path)
    if src.format == "lcs":
        return read_lcs(src.path)
    if src.format == "vscsi":
        return read_vscsi(src.path)
    if src.format == "twr":
        return read_twr(src.path)
    from supreme.cache.traces.delimited import read_csv

    return read_csv(src.path, **csv_options)
