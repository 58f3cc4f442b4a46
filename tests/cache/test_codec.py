"""Codec round-trips (hypothesis for JSON values, arrays, DataFrames) and corrupt payloads."""

from __future__ import annotations

import datetime
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supreme.cache import codec
from supreme.cache.codec import CodecError, decode, decode_entry, encode, encode_entry, entry_expires_at
from supreme.errors import SupremeError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=25,
)


def _same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN and types must match exactly."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_json_values_round_trip_exactly(value: object) -> None:
    assert _same(decode(encode(value)), value)


@pytest.mark.parametrize("value", [2**64, -(2**70), [1, 2**100], float("nan"), {"x": [float("-inf")]}])
def test_values_orjson_would_lose_use_the_stdlib_tag(value: object) -> None:
    blob = encode(value)
    assert blob[:1] == b"j"
    assert _same(decode(blob), value)


def test_tuples_and_numpy_scalars_decode_as_json_types() -> None:
    assert decode(encode((1, "a"))) == [1, "a"]
    out = decode(encode({"p": np.float64(1.5), "n": np.int32(7), "b": np.bool_(True)}))
    assert out == {"p": 1.5, "n": 7, "b": True}
    assert type(out["n"]) is int
    assert decode(encode(np.float32(2.0))) == 2.0


@pytest.mark.parametrize("raw", [b"", b"\x00\xff", bytearray(b"abc"), memoryview(b"xyz")])
def test_bytes_round_trip(raw: bytes) -> None:
    assert decode(encode(raw)) == bytes(raw)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["<f8", "<f4", "<i8", "<u2", "|i1", "|b1", "<c16", ">f8"]),
    st.lists(st.integers(0, 4), min_size=0, max_size=3),
)
def test_numpy_arrays_round_trip(dtype: str, shape: list[int]) -> None:
    rng = np.random.default_rng(0)
    arr = np.asarray(rng.random(shape) * 100).astype(dtype)
    out = decode(encode(arr))
    assert out.dtype == arr.dtype and out.shape == arr.shape
    np.testing.assert_array_equal(out, arr)
    out[...] = 0  # decoded arrays are writeable copies


def test_non_contiguous_array_round_trips() -> None:
    arr = np.arange(20.0).reshape(4, 5)[:, ::2]
    np.testing.assert_array_equal(decode(encode(arr)), arr)


def test_dataframe_round_trips_with_index_and_dtypes() -> None:
    idx = pd.DatetimeIndex(pd.date_range("2024-01-01", periods=4, freq="min", tz="UTC"), name="ts")
    df = pd.DataFrame(
        {"open": [1.0, 2.0, 3.0, np.nan], "volume": np.arange(4, dtype="int64"),
         "side": ["b", "s", "b", None]},
        index=idx,
    )
    out = decode(encode(df))
    pd.testing.assert_frame_equal(out, df, check_freq=False)  # Arrow keeps no index freq


@pytest.mark.parametrize(
    "bad",
    [{1: "int key"}, object(), np.array(["text"]), np.array([object()]), {"t": datetime.datetime(2024, 1, 1)},
     {"s": {1, 2}}, pd.Series([1, 2])],
)
def test_unsupported_values_raise_codec_error(bad: object) -> None:
    with pytest.raises(CodecError):
        encode(bad)


@pytest.mark.parametrize(
    "blob",
    [b"", b"?", b"X{}", b"J{\"a\":", b"j[1,", b"N", b"N\x03<f8\x01" + b"\x02" + b"\x00" * 7 + b"\x00" * 8,
     b"N\x02|O\x00", b"N\x03<f8\x05", b"P", b"P" + b"\x00" * 16],
)
def test_corrupt_payloads_raise_codec_error(blob: bytes) -> None:
    with pytest.raises(CodecError) as info:
        decode(blob)
    assert isinstance(info.value, SupremeError)


def test_truncated_array_payload_is_detected() -> None:
    blob = encode(np.arange(10.0))
    with pytest.raises(CodecError, match="data bytes"):
        decode(blob[:-3])


def test_truncated_frame_payload_is_detected() -> None:
    blob = encode(pd.DataFrame({"a": range(100)}))
    with pytest.raises(CodecError):
        decode(blob[: len(blob) // 2])


def test_entry_header_carries_expiry() -> None:
    blob = encode_entry({"a": 1}, 1234.5)
    assert entry_expires_at(blob) == 1234.5
    assert decode_entry(blob) == ({"a": 1}, 1234.5)
    assert decode_entry(encode_entry("x", None)) == ("x", None)
    with pytest.raises(CodecError, match="shorter than its header"):
        entry_expires_at(b"\x00\x01")


def test_estimate_nbytes_is_positive_and_tracks_size() -> None:
    assert codec.estimate_nbytes(b"x" * 100) == 100
    assert codec.estimate_nbytes(np.zeros(1000)) == 8000
    assert codec.estimate_nbytes({"a": list(range(100))}) > codec.estimate_nbytes({"a": 1})
    assert codec.estimate_nbytes(object()) > 0
