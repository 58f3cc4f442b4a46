"""Delimited text traces (csv, tsv, libCacheSim's plain txt), plain or zstd, with a column mapping.

A mapping names, for ``time``, ``obj_id`` and ``obj_size``, a header name or a 1-based field
number (libCacheSim's ``time-col``/``obj-id-col``/``obj-size-col``).  Without one, a known header
layout (our own ``time,obj_id,obj_size``; cloudPhysics' ``version,time,op,size,lbn``) is used, a
file of one field is libCacheSim's plain txt (one object id per line), and otherwise fields 1, 2, 3.
A missing time is 0 and a missing size 1, as in libCacheSim.

Object ids that are not integers (``obj_id_is_num=False``, or guessed from the first record) are
hashed to uint64 with pandas' SipHash (:func:`pandas.util.hash_array`, fixed key): the same string
gives the same id in every run and on every machine.  libCacheSim hashes with a hash of its own, so
ids differ from its reader's while the sequence of distinct objects is the same.

Whether the first line is a header is guessed unless ``header`` is given: yes when a column is
mapped by name, or when a field of line 1 is not a number where line 2's is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from supreme.cache.trace import COLUMNS, Trace, TraceError
from supreme.cache.traces.stream import CorruptStream, is_zstd, open_stream, peek

__all__ = ["COLUMNS", "KNOWN_LAYOUTS", "hash_ids", "read_csv"]


#: Header layouts recognised without a column mapping (cloudPhysics block traces: lbn is the object).
KNOWN_LAYOUTS: dict[tuple[str, ...], dict[str, str]] = {
    ("version", "time", "op", "size", "lbn"): {"time": "time", "obj_id": "lbn", "obj_size": "size"},
}
_SNIFF_BYTES = 1 << 16


#: delimiters a one-column read may have missed (spreadsheet exports)
OTHER_DELIMITERS = (";", "\t", "|")


def hash_ids(values: np.ndarray | pd.Series) -> np.ndarray:
    """Deterministic uint64 ids of string object ids (pandas' SipHash with its fixed key)."""
    return pd.util.hash_array(np.asarray(values, dtype=object), categorize=True)


def _is_number(cell: str) -> bool:
    text = cell.strip()
    try:
        float(text)
    except ValueError:
        return False
    return bool(text)


def _first_lines(p: Path, delimiter: str) -> list[list[str]]:
    try:
        text = peek(p, _SNIFF_BYTES).decode()
    except UnicodeDecodeError as exc:
        if exc.start < _SNIFF_BYTES - 4:  # not a multi-byte character cut by the sniff window
            raise TraceError(f"{p}: not a text trace ({exc})") from exc
        text = exc.object[: exc.start].decode()
    lines = [ln for ln in text.splitlines()[:3] if ln.strip()]
    return [ln.split(delimiter) for ln in lines[:2]]


def _guess_header(lines: list[list[str]], columns: Mapping[str, str | int] | None) -> bool:
    if columns and any(isinstance(v, str) and not v.isdigit() for v in columns.values()):
        return True
    if not lines:
        return False
    if len(lines) == 1:
        return any(not _is_number(c) for c in lines[0])
    one, two = lines
    return any(not _is_number(a) and _is_number(b) for a, b in zip(one, two, strict=False))


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


def _default_columns(frame: pd.DataFrame, header: bool) -> dict[str, str | int]:
    names = tuple(str(c).strip().lower() for c in frame.columns) if header else ()
    if names in KNOWN_LAYOUTS:
        return dict(KNOWN_LAYOUTS[names])
    if header and all(c in names for c in COLUMNS):
        return {c: c for c in COLUMNS}
    if frame.shape[1] == 1:
        return {"obj_id": 1}
    return {"time": 1, "obj_id": 2, "obj_size": 3}


def _other_delimiter(frame: pd.DataFrame, header: bool, delimiter: str) -> str | None:
    """The delimiter a one-column frame was really written with, when its first lines split alike on it."""
    if frame.shape[1] != 1:
        return None
    cells = ([str(frame.columns[0])] if header else []) + [str(c) for c in frame.iloc[:2, 0]]
    if len(cells) < 2:
        return None
    for other in OTHER_DELIMITERS:
        counts = {cell.count(other) for cell in cells}
        if other != delimiter and len(counts) == 1 and counts.pop() >= 1:
            return other
    return None


def _bad(p: Path, raw: pd.Series, bad: pd.Series, header: bool, what: str) -> TraceError:
    i = int(np.argmax(bad.to_numpy()))
    line = i + 1 + (1 if header else 0)
    return TraceError(f"{p}: record {i + 1} (line {line}): bad {what} value {raw.iloc[i]!r}"
                      + (" (sizes must be positive integers)" if what == "obj_size" else ""))


def _integers(p: Path, raw: pd.Series, header: bool, what: str) -> np.ndarray:
    values = pd.to_numeric(raw.str.strip(), errors="coerce")
    bad = values.isna() | (values != values.round())
    if what == "obj_size":
        bad |= values <= 0
    if bad.any():
        raise _bad(p, raw, bad, header, what)
    if values.dtype.kind == "f":
        return values.to_numpy(dtype=np.float64).astype(np.int64)
    return values.to_numpy()


def _ids(p: Path, raw: pd.Series, header: bool, obj_id_is_num: bool | None) -> np.ndarray:
    stripped = raw.str.strip()
    if obj_id_is_num is None:
        obj_id_is_num = bool(len(stripped)) and stripped.iloc[0].lstrip("-").isdigit()
    if not obj_id_is_num:
        empty = stripped == ""
        if empty.any():
            raise _bad(p, raw, empty, header, "obj_id")
        return hash_ids(stripped.to_numpy())
    return _integers(p, raw, header, "obj_id")


def _frame(p: Path, delimiter: str, header: bool) -> pd.DataFrame:
    try:
        with open_stream(p) as fh:
            return pd.read_csv(fh, sep=delimiter, header=0 if header else None, dtype=str,
                               keep_default_na=False, skip_blank_lines=True)
    except CorruptStream:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise TraceError(f"{p}: unreadable {'zstd-compressed ' if is_zstd(p) else ''}CSV ({exc})") from exc


def read_csv(
    path: str | os.PathLike[str],
    columns: Mapping[str, str | int] | None = None,
    *,
    header: bool | None = None,
    delimiter: str = ",",
    obj_id_is_num: bool | None = None,
) -> Trace:
    """A delimited trace; ``columns`` maps time/obj_id/obj_size to a header name or 1-based field."""
    p = Path(path)
    if header is None:
        header = _guess_header(_first_lines(p, delimiter), columns)
    frame = _frame(p, delimiter, header)
    if columns is None:
        other = _other_delimiter(frame, header, delimiter)
        if other is not None:
            # one column whose header and rows split alike on another delimiter: a misread, not string ids
            raise TraceError(f"{p}: one column read with delimiter {delimiter!r}, but its lines split "
                             f"alike on {other!r}: pass --delimiter {other!r}")
        columns = _default_columns(frame, header)
    if "obj_id" not in columns:
        raise TraceError(f"{p}: no column given for obj_id")
    ids = _ids(p, _column(frame, columns["obj_id"], p, "obj_id"), header, obj_id_is_num)
    out: dict[str, np.ndarray] = {}
    for what, missing in (("time", 0), ("obj_size", 1)):
        if what in columns:
            out[what] = _integers(p, _column(frame, columns[what], p, what), header, what)
        else:
            out[what] = np.full(len(frame), missing, dtype=np.int64)
    nxt = None
    if "next_access_vtime" in frame.columns:
        nxt = pd.to_numeric(frame["next_access_vtime"], errors="coerce").fillna(-1).to_numpy(np.int64)
    return Trace(out["time"], ids, out["obj_size"], nxt)
