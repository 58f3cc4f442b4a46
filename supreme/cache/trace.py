"""Access traces: a columnar ``Trace``, a recorder, and the standard file formats.

Formats
-------
parquet        our own: columns time, obj_id, obj_size[, next_access_vtime]
csv            our own (same columns, with header) or libCacheSim's csv reader layout:
               any delimited file, fields chosen by header name or 1-based index
               (libCacheSim's ``time-col``/``obj-id-col``/``obj-size-col``)
oraclegeneral  libCacheSim's binary: 24-byte little-endian records
               ``uint32 time, uint64 obj_id, uint32 obj_size, int64 next_access_vtime``
               (next_access_vtime counts requests from 1, -1 when never requested again;
               ``Trace.next_access_vtime`` holds 0-based positions)

Corrupt input raises :class:`TraceError` naming the file and the record.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from supreme.errors import SupremeError

__all__ = [
    "FORMATS", "ORACLE_DTYPE", "Trace", "TraceError", "TraceRecorder", "load_trace", "read_csv",
    "read_oracle_general", "save_trace",
]

FORMATS = ("auto", "csv", "oraclegeneral", "parquet")
ORACLE_DTYPE = np.dtype([("time", "<u4"), ("obj_id", "<u8"), ("obj_size", "<u4"), ("next", "<i8")])
COLUMNS = ("time", "obj_id", "obj_size")
#: Header layouts recognised without a column mapping (cloudPhysics block traces: lbn is the object).
KNOWN_LAYOUTS: dict[tuple[str, ...], dict[str, str]] = {
    ("version", "time", "op", "size", "lbn"): {"time": "time", "obj_id": "lbn", "obj_size": "size"},
}


class TraceError(SupremeError, ValueError):
    """A trace file is missing, truncated or holds a bad value (message names file and record)."""


@dataclass
class Trace:
    """A request sequence as numpy arrays (one element per request)."""

    time: np.ndarray
    obj_id: np.ndarray
    obj_size: np.ndarray
    next_access_vtime: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.time = np.asarray(self.time, dtype=np.int64)
        self.obj_id = np.asarray(self.obj_id)
        if self.obj_id.dtype.kind not in "iu":
            raise TraceError(f"obj_id must be integers, got dtype {self.obj_id.dtype}")
        self.obj_size = np.asarray(self.obj_size, dtype=np.int64)
        n = len(self.obj_id)
        if len(self.time) != n or len(self.obj_size) != n:
            raise TraceError(f"trace columns differ in length: {len(self.time)}, {n}, {len(self.obj_size)}")
        if n and self.obj_size.min() <= 0:
            bad = int(np.argmax(self.obj_size <= 0))
            raise TraceError(f"record {bad + 1}: obj_size must be positive, got {self.obj_size[bad]}")
        if self.next_access_vtime is not None:
            self.next_access_vtime = np.asarray(self.next_access_vtime, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.obj_id)

    @classmethod
    def from_ids(cls, ids: object, sizes: object = None) -> Trace:
        """A trace of ``ids`` at times 0..n-1 (unit sizes unless given)."""
        arr = np.asarray(ids, dtype=np.int64)
        size_arr = np.ones(len(arr), np.int64) if sizes is None else np.asarray(sizes, np.int64)
        return cls(np.arange(len(arr), dtype=np.int64), arr, size_arr)

    def dense_ids(self) -> tuple[np.ndarray, int]:
        """Ids remapped to 0..k-1 in order of first appearance, and k."""
        _, first, inverse = np.unique(self.obj_id, return_index=True, return_inverse=True)
        rank = np.empty(len(first), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(first))
        return rank[inverse].astype(np.int64), len(first)

    def next_access(self) -> np.ndarray:
        """Position of each request's next request for the same object (-1: none); computed if absent."""
        if self.next_access_vtime is not None and len(self.next_access_vtime) == len(self):
            return self.next_access_vtime
        n = len(self)
        order = np.lexsort((np.arange(n), self.obj_id))
        nxt = np.full(n, -1, dtype=np.int64)
        same = self.obj_id[order[1:]] == self.obj_id[order[:-1]]
        nxt[order[:-1][same]] = order[1:][same]
        return nxt

    def with_next_access(self) -> Trace:
        """This trace with ``next_access_vtime`` filled in."""
        return Trace(self.time, self.obj_id, self.obj_size, self.next_access())

    def to_frame(self) -> pd.DataFrame:
        """Columns time, obj_id, obj_size[, next_access_vtime]."""
        cols: dict[str, np.ndarray] = {"time": self.time, "obj_id": self.obj_id, "obj_size": self.obj_size}
        if self.next_access_vtime is not None:
            cols["next_access_vtime"] = self.next_access_vtime
        return pd.DataFrame(cols)


class TraceRecorder:
    """Records a key sequence from any run, mapping keys (e.g. str cache keys) to int ids."""

    def __init__(self) -> None:
        self._ids: dict[Hashable, int] = {}
        self._seq: list[int] = []
        self._sizes: list[int] = []
        self._times: list[float] = []

    def record(self, key: Hashable, size: int = 1, time: float | None = None) -> int:
        """Append one request; return the key's id."""
        oid = self._ids.setdefault(key, len(self._ids))
        self._seq.append(oid)
        self._sizes.append(int(size))
        self._times.append(float(len(self._times) if time is None else time))
        return oid

    def __len__(self) -> int:
        return len(self._seq)

    @property
    def key_ids(self) -> dict[Hashable, int]:
        """The key → id mapping so far."""
        return dict(self._ids)

    def to_trace(self) -> Trace:
        """The recorded requests as a :class:`Trace` (times truncated to whole units)."""
        return Trace(np.asarray(self._times, dtype=np.float64).astype(np.int64),
                     np.asarray(self._seq, dtype=np.int64), np.asarray(self._sizes, dtype=np.int64))


# -- readers ----------------------------------------------------------------
def _detect(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".parquet") or name.endswith(".pq"):
        return "parquet"
    if "oraclegeneral" in name or name.endswith(".bin"):
        return "oraclegeneral"
    if name.endswith(".csv") or name.endswith(".txt"):
        return "csv"
    raise TraceError(
        f"{path}: cannot tell the trace format from the name; pass a format ({', '.join(FORMATS)})"
    )


def _check_file(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.is_file():
        raise TraceError(f"{p}: trace file not found")
    return p


def read_oracle_general(path: str | os.PathLike[str]) -> Trace:
    """libCacheSim's oracleGeneral binary (24-byte records)."""
    p = _check_file(path)
    nbytes = p.stat().st_size
    if nbytes % ORACLE_DTYPE.itemsize:
        full = nbytes // ORACLE_DTYPE.itemsize
        raise TraceError(
            f"{p}: truncated oracleGeneral record {full + 1} at byte {full * ORACLE_DTYPE.itemsize} "
            f"({nbytes % ORACLE_DTYPE.itemsize} of {ORACLE_DTYPE.itemsize} bytes)"
        )
    rec = np.fromfile(p, dtype=ORACLE_DTYPE)
    bad = np.flatnonzero(rec["obj_size"] == 0)
    if len(bad):
        raise TraceError(f"{p}: record {bad[0] + 1} has obj_size 0")
    raw = rec["next"].astype(np.int64)
    nxt = np.where(raw > 0, raw - 1, -1)  # libCacheSim's virtual time counts requests from 1
    return Trace(rec["time"].astype(np.int64), rec["obj_id"].copy(), rec["obj_size"].astype(np.int64), nxt)


def _column(frame: pd.DataFrame, spec: str | int, path: Path, what: str) -> pd.Series:
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        idx = int(spec) - 1  # libCacheSim counts fields from 1
        if not 0 <= idx < frame.shape[1]:
            raise TraceError(f"{path}: {what} field {spec} out of range (file has {frame.shape[1]} fields)")
        return frame.iloc[:, idx]
    if spec not in frame.columns:
        names = ", ".join(map(str, frame.columns))
        raise TraceError(f"{path}: no column {spec!r} for {what} (columns: {names})")
    return frame[spec]


def read_csv(
    path: str | os.PathLike[str],
    columns: Mapping[str, str | int] | None = None,
    *,
    header: bool | None = None,
    delimiter: str = ",",
) -> Trace:
    """A delimited trace; ``columns`` maps time/obj_id/obj_size to a header name or 1-based field."""
    p = _check_file(path)
    try:
        with p.open() as fh:
            first = fh.readline().strip().split(delimiter)
    except UnicodeDecodeError as exc:
        raise TraceError(f"{p}: not a text trace ({exc})") from exc
    if header is None:
        header = any(not cell.strip().lstrip("-").isdigit() for cell in first)
    try:
        frame = pd.read_csv(p, sep=delimiter, header=0 if header else None, dtype=str,
                            keep_default_na=False, skip_blank_lines=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise TraceError(f"{p}: unreadable CSV ({exc})") from exc
    if columns is None:
        names = tuple(str(c).strip().lower() for c in frame.columns) if header else ()
        if names in KNOWN_LAYOUTS:
            columns = KNOWN_LAYOUTS[names]
        elif header and all(c in names for c in COLUMNS):
            columns = {c: c for c in COLUMNS}
        else:
            columns = {"time": 1, "obj_id": 2, "obj_size": 3}
    out: dict[str, np.ndarray] = {}
    for what in COLUMNS:
        if what not in columns:
            if what == "obj_size":
                out[what] = np.ones(len(frame), dtype=np.int64)
                continue
            raise TraceError(f"{p}: no column given for {what}")
        raw = _column(frame, columns[what], p, what)
        values = pd.to_numeric(raw.str.strip(), errors="coerce")
        bad = values.isna() | (values != values.round())
        if what == "obj_size":
            bad |= values <= 0
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            line = i + 1 + (1 if header else 0)
            raise TraceError(f"{p}: record {i + 1} (line {line}): bad {what} value {raw.iloc[i]!r}")
        out[what] = values.to_numpy(dtype=np.float64).astype(np.int64) if values.dtype.kind == "f" \
            else values.to_numpy(dtype=np.int64)
    nxt = None
    if "next_access_vtime" in frame.columns:
        nxt = pd.to_numeric(frame["next_access_vtime"], errors="coerce").fillna(-1).to_numpy(np.int64)
    return Trace(out["time"], out["obj_id"], out["obj_size"], nxt)


def read_parquet(path: str | os.PathLike[str]) -> Trace:
    """Our Parquet layout."""
    p = _check_file(path)
    try:
        frame = pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise TraceError(f"{p}: unreadable Parquet trace ({type(exc).__name__}: {exc})") from exc
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise TraceError(f"{p}: Parquet trace lacks columns {missing}")
    nxt = frame["next_access_vtime"].to_numpy() if "next_access_vtime" in frame.columns else None
    return Trace(frame["time"].to_numpy(), frame["obj_id"].to_numpy(), frame["obj_size"].to_numpy(), nxt)


def load_trace(path: str | os.PathLike[str], format: str = "auto", **csv_options: object) -> Trace:
    """Read a trace in any supported format (``auto`` guesses from the file name)."""
    p = _check_file(path)
    fmt = format.lower().replace("_", "").replace("-", "")
    if fmt not in FORMATS:
        raise TraceError(f"unknown trace format {format!r}; valid: {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = _detect(p)
    if fmt == "parquet":
        return read_parquet(p)
    if fmt == "oraclegeneral":
        return read_oracle_general(p)
    return read_csv(p, **csv_options)  # type: ignore[arg-type]


def save_trace(trace: Trace, path: str | os.PathLike[str], format: str = "auto") -> Path:
    """Write ``trace`` as parquet, csv or oracleGeneral (next access filled in for the latter)."""
    p = Path(path)
    fmt = format.lower().replace("_", "").replace("-", "")
    if fmt == "auto":
        fmt = _detect(p)
    if fmt == "parquet":
        trace.to_frame().to_parquet(p, index=False)
    elif fmt == "csv":
        trace.to_frame().to_csv(p, index=False)
    elif fmt == "oraclegeneral":
        if len(trace) and (trace.time.min() < 0 or trace.time.max() > 0xFFFFFFFF
                           or trace.obj_size.max() > 0xFFFFFFFF or trace.obj_id.min() < 0):
            raise TraceError(f"{p}: values do not fit oracleGeneral's uint32 time/size or uint64 id")
        rec = np.empty(len(trace), dtype=ORACLE_DTYPE)
        rec["time"], rec["obj_id"], rec["obj_size"] = trace.time, trace.obj_id, trace.obj_size
        nxt = trace.next_access()
        rec["next"] = np.where(nxt >= 0, nxt + 1, -1)
        rec.tofile(p)
    else:
        raise TraceError(f"unknown trace format {format!r}; valid: {', '.join(FORMATS[1:])}")
    return p
