"""Safe, explicit value encoding for the shared cache tiers (L2 Redis, L3 SQL) — never pickle.

Format: one tag byte, then the payload.

====  ==========================================================================
tag   payload
====  ==========================================================================
``J`` JSON via orjson: dict (str keys) / list / str / int / float / bool / None.
      Tuples decode as lists and numpy scalars as Python numbers (JSON has one
      sequence and one number type); other objects are refused.
``j`` JSON via the stdlib, used when orjson would lose data: ints beyond 64 bits
      (orjson reads them back as floats) and NaN/±inf (orjson writes null).
``B`` raw bytes (``bytes``, ``bytearray``, ``memoryview``) → ``bytes``
``N`` numpy array of a numeric dtype (bool, int, uint, float, complex):
      ``u8 len(dtype.str)``, ``dtype.str`` ASCII, ``u8 ndim``, ``ndim`` u64 shape values,
      then the C-contiguous buffer
``P`` pandas DataFrame as an Arrow IPC stream (pyarrow), index preserved (not an
      index's ``freq``, which Arrow does not carry)
====  ==========================================================================

A cache *entry* (what the manager stores in L2/L3) is ``f64 expires_at`` (NaN =
never; seconds on the manager's injected clock) followed by an encoded value, so
a TTL travels with the value when it is promoted up the hierarchy.

Decoding an unknown tag or a corrupt payload raises :class:`CodecError`.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from supreme.errors import SupremeError

try:  # orjson is an optional speed-up; the stdlib gives the same bytes semantics
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is installed in the project venv
    _orjson = None  # type: ignore[assignment]

__all__ = [
    "CodecError", "decode", "decode_entry", "encode", "encode_entry", "entry_expires_at",
    "estimate_nbytes",
]

TAG_JSON = b"J"
TAG_STDJSON = b"j"
TAG_BYTES = b"B"
TAG_NUMPY = b"N"
TAG_FRAME = b"P"

_ENTRY = struct.Struct("<d")
_NUMERIC_KINDS = frozenset("biufc")


class CodecError(SupremeError, ValueError):
    """A value cannot be encoded, or stored bytes cannot be decoded."""


# -- JSON --------------------------------------------------------------------
def _numpy_scalar(obj: Any) -> Any:
    """orjson ``default``: numpy scalars become Python numbers; anything else is refused."""
    import numpy as np

    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    raise TypeError(f"type {type(obj).__name__} is not JSON-serialisable by the cache codec")


def _check_strict(value: Any, path: str = "value") -> None:
    """Validate the stdlib fallback's input: it would silently stringify non-str keys."""
    if value is None or type(value) in (str, int, float, bool):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if type(k) is not str:
                raise CodecError(f"{path} has a non-str dict key {k!r}; JSON keys must be strings")
            _check_strict(v, f"{path}[{k!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_strict(v, f"{path}[{i}]")
        return
    try:
        _numpy_scalar(value)
    except TypeError as exc:
        raise CodecError(f"{path}: {exc}") from None


def _has_nonfinite(value: Any) -> bool:
    if type(value) is float:
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_nonfinite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_nonfinite(v) for v in value)
    return False


def _stdlib_json(value: Any) -> bytes:
    _check_strict(value)
    try:
        text = json.dumps(value, allow_nan=True, separators=(",", ":"), default=_numpy_scalar)
    except (TypeError, ValueError) as exc:
        raise CodecError(f"cannot encode value as JSON: {exc}") from exc
    return TAG_STDJSON + text.encode("utf-8")


if _orjson is not None:
    _OPTS = (_orjson.OPT_PASSTHROUGH_DATETIME | _orjson.OPT_PASSTHROUGH_DATACLASS
             | _orjson.OPT_PASSTHROUGH_SUBCLASS)

    def _encode_json(value: Any) -> bytes:
        try:
            out = _orjson.dumps(value, default=_numpy_scalar, option=_OPTS)
        except _orjson.JSONEncodeError as exc:
            # ints beyond 64 bits: the stdlib handles them; real type errors are re-raised there
            if "Integer exceeds" in str(exc):
                return _stdlib_json(value)
            raise CodecError(f"cannot encode value as JSON: {exc}") from exc
        # orjson writes NaN/inf as null (silent loss); the stdlib keeps them
        if b"null" in out and _has_nonfinite(value):
            return _stdlib_json(value)
        return TAG_JSON + out

    def _decode_json(payload: bytes) -> Any:
        return _orjson.loads(payload)

else:  # pragma: no cover

    def _encode_json(value: Any) -> bytes:
        return _stdlib_json(value)

    def _decode_json(payload: bytes) -> Any:
        return json.loads(payload)


# -- numpy / pandas ----------------------------------------------------------
def _encode_array(arr: Any) -> bytes:
    import numpy as np

    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise CodecError(f"numpy arrays of dtype {arr.dtype} are not supported (numeric dtypes only)")
    if arr.ndim > 255:
        raise CodecError(f"numpy array has {arr.ndim} dimensions (at most 255)")
    dt = arr.dtype.str.encode("ascii")
    header = struct.pack(f"<B{len(dt)}sB{arr.ndim}Q", len(dt), dt, arr.ndim, *arr.shape)
    return TAG_NUMPY + header + np.ascontiguousarray(arr).tobytes()


def _decode_array(payload: bytes) -> Any:
    import numpy as np

    try:
        n = payload[0]
        dt = np.dtype(payload[1:1 + n].decode("ascii"))
        ndim = payload[1 + n]
        off = 2 + n
        shape = struct.unpack_from(f"<{ndim}Q", payload, off)
        off += 8 * ndim
    except (IndexError, TypeError, ValueError, UnicodeDecodeError, struct.error) as exc:
        raise CodecError(f"corrupt numpy header: {exc}") from exc
    if dt.kind not in _NUMERIC_KINDS:
        raise CodecError(f"corrupt numpy payload: non-numeric dtype {dt}")
    count = math.prod(shape)
    if len(payload) - off != count * dt.itemsize:
        raise CodecError(
            f"corrupt numpy payload: {len(payload) - off} data bytes for shape {shape} of {dt}"
        )
    return np.frombuffer(payload, dtype=dt, count=count, offset=off).reshape(shape).copy()


def _encode_frame(frame: Any) -> bytes:
    import pyarrow as pa

    try:
        table = pa.Table.from_pandas(frame, preserve_index=True)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise CodecError(f"cannot encode DataFrame as Arrow: {exc}") from exc
    return TAG_FRAME + sink.getvalue().to_pybytes()


def _decode_frame(payload: bytes) -> Any:
    import pyarrow as pa

    try:
        return pa.ipc.open_stream(pa.py_buffer(payload)).read_all().to_pandas()
    except (pa.ArrowException, OSError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise CodecError(f"corrupt Arrow payload: {exc}") from exc


# -- public API ----------------------------------------------------------------
def encode(value: Any) -> bytes:
    """Encode ``value`` with its type tag (CodecError for unsupported types)."""
    t = type(value)
    if t is bytes:
        return TAG_BYTES + value
    if t in (dict, list, str, int, float, bool) or value is None:
        return _encode_json(value)
    if isinstance(value, (bytearray, memoryview)):
        return TAG_BYTES + bytes(value)
    mod = t.__module__.split(".", 1)[0]
    if mod == "numpy":
        import numpy as np

        if isinstance(value, np.ndarray):
            return _encode_array(value)
        if isinstance(value, (np.bool_, np.integer, np.floating)):
            return _encode_json(_numpy_scalar(value))
    if mod == "pandas":
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            return _encode_frame(value)
    if isinstance(value, tuple):
        return _encode_json(value)
    raise CodecError(
        f"cannot cache a value of type {t.__module__}.{t.__qualname__}: supported are JSON values, "
        "bytes, numeric numpy arrays and pandas DataFrames"
    )


def decode(data: bytes) -> Any:
    """Decode bytes made by :func:`encode` (CodecError on unknown tag or corrupt payload)."""
    if not data:
        raise CodecError("empty payload (no type tag)")
    tag = data[:1]
    payload = data[1:]
    if tag == TAG_JSON:
        try:
            return _decode_json(payload)
        except ValueError as exc:  # orjson.JSONDecodeError and json.JSONDecodeError are ValueErrors
            raise CodecError(f"corrupt JSON payload: {exc}") from exc
    if tag == TAG_STDJSON:
        try:
            return json.loads(payload)
        except (ValueError, RecursionError) as exc:
            raise CodecError(f"corrupt JSON payload: {exc}") from exc
    if tag == TAG_BYTES:
        return bytes(payload)
    if tag == TAG_NUMPY:
        return _decode_array(bytes(payload))
    if tag == TAG_FRAME:
        return _decode_frame(bytes(payload))
    raise CodecError(f"unknown type tag {tag!r}")


def encode_entry(value: Any, expires_at: float | None) -> bytes:
    """A cache entry: the absolute expiry (NaN = never) then the encoded value."""
    return _ENTRY.pack(math.nan if expires_at is None else expires_at) + encode(value)


def entry_expires_at(blob: bytes) -> float | None:
    """The expiry stored in an entry's header, without decoding the value."""
    if len(blob) < _ENTRY.size + 1:
        raise CodecError(f"corrupt cache entry: {len(blob)} bytes is shorter than its header")
    exp = _ENTRY.unpack_from(blob)[0]
    return None if math.isnan(exp) else exp


def decode_entry(blob: bytes) -> tuple[Any, float | None]:
    """``(value, expires_at)`` of an entry made by :func:`encode_entry`."""
    exp = entry_expires_at(blob)
    return decode(blob[_ENTRY.size:]), exp


def estimate_nbytes(value: Any) -> int:
    """Approximate in-memory size of ``value`` in bytes (for byte-capacity L1 tiers)."""
    if isinstance(value, (bytes, bytearray)):
        return max(1, len(value))
    if isinstance(value, str):
        return max(1, len(value))
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):  # numpy arrays
        return max(1, nbytes)
    usage = getattr(value, "memory_usage", None)
    if callable(usage):  # pandas
        try:
            return max(1, int(usage(deep=True).sum()))
        except (TypeError, ValueError):
            pass
    try:
        return max(1, len(encode(value)))
    except CodecError:
        import sys

        return max(1, sys.getsizeof(value))
