"""One-pass miss-ratio curves: the exact LRU curve equals the LRU kernel per size; SHARDS is close."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from supreme.cache.mrc import compare_curves, lru_distances, lru_mrc, shards_mrc
from supreme.cache.mrc.bitstack import feed_unit, new_bit_state
from supreme.cache.mrc.stack import COLD, feed, new_state
from supreme.cache.policies import PolicyError
from supreme.cache.trace import Trace
from supreme.cache.traces import miss_ratio_curve


def _zipf(n: int, n_obj: int, alpha: float, seed: int) -> Trace:
    rng = np.random.default_rng(seed)
    w = 1.0 / np.arange(1, n_obj + 1) ** alpha
    return Trace.from_ids(rng.choice(n_obj, size=n, p=w / w.sum()))


def _traces() -> dict[str, Trace]:
    rng = np.random.default_rng(7)
    loop = np.tile(np.arange(300), 20)  # a scan LRU fails on below 300
    mixed = np.concatenate([rng.integers(0, 40, 2000), loop[:2000], rng.zipf(1.3, 3000) % 700])
    return {"uniform": Trace.from_ids(rng.integers(0, 500, 8000)), "zipf": _zipf(20_000, 3000, 0.9, 3),
            "loop": Trace.from_ids(loop), "mixed": Trace.from_ids(mixed),
            "big ids": Trace.from_ids(rng.integers(0, 200, 3000) * (2**40) + 5)}


def _naive_distances(ids: np.ndarray) -> list[int]:
    stack: list[int] = []
    out = []
    for x in ids.tolist():
        if x in stack:
            out.append(stack.index(x) + 1)
            stack.remove(x)
        else:
            out.append(COLD)
        stack.insert(0, x)
    return out


@pytest.mark.parametrize("name", list(_traces()))
def test_one_pass_lru_equals_per_size_kernel(name: str) -> None:
    trace = _traces()[name]
    n_obj = len(np.unique(trace.obj_id))
    sizes = sorted({1, 2, 3, 7, 50, 299, 300, 301, n_obj - 1, n_obj, n_obj + 5} - {0})
    one_pass = lru_mrc(trace, sizes)
    per_size = miss_ratio_curve(trace, "lru", sizes)
    cols = ["size", "requests", "hits", "misses"]
    pd.testing.assert_frame_equal(one_pass[cols], per_size[cols], check_dtype=False)
    np.testing.assert_array_equal(one_pass["miss_ratio"], per_size["miss_ratio"])
    np.testing.assert_allclose(one_pass["byte_miss_ratio"], per_size["byte_miss_ratio"], rtol=0, atol=1e-12)


def test_warmup_matches_kernel() -> None:
    trace = _traces()["mixed"]
    one_pass = lru_mrc(trace, [5, 60, 400], warmup=1500)
    per_size = miss_ratio_curve(trace, "lru", [5, 60, 400], warmup=1500)
    assert one_pass["hits"].tolist() == per_size["hits"].tolist()
    assert one_pass["requests"].tolist() == [len(trace) - 1500] * 3


def test_byte_curve_matches_kernel_when_objects_fit() -> None:
    """Byte mode is exact when each object keeps one size and none exceeds the cache."""
    rng = np.random.default_rng(11)
    ids = rng.integers(0, 400, 6000)
    sizes = (ids * 7919) % 50 + 1
    trace = Trace.from_ids(ids, sizes)
    caps = [50, 120, 999, 5000, 10_000, 20_000]
    one_pass = lru_mrc(trace, caps, ignore_size=False)
    per_size = miss_ratio_curve(trace, "lru", caps, ignore_size=False)
    assert one_pass["hits"].tolist() == per_size["hits"].tolist()
    np.testing.assert_allclose(one_pass["byte_miss_ratio"], per_size["byte_miss_ratio"], atol=1e-12)


def test_fenwick_distances_with_packing_equal_a_naive_stack() -> None:
    rng = np.random.default_rng(5)
    ids = np.concatenate([rng.integers(0, 30, 1500), rng.integers(0, 60, 500)])
    naive = _naive_distances(ids)
    assert lru_distances(Trace.from_ids(ids)).tolist() == naive
    # a tree barely larger than the objects: it packs every few requests; fed in ragged chunks
    n_obj = int(ids.max()) + 1
    state = new_state(n_obj, slots=n_obj + 1)
    parts = [feed(state, ids[a:b], np.ones(b - a, np.int64)) for a, b in ((0, 1), (1, 700), (700, 2000))]
    assert np.concatenate(parts).tolist() == naive
    bits = new_bit_state(n_obj)  # the unit-weight bitmap pass: 192 positions, packed every ~130 requests
    chunks = ((0, 3), (3, 1999), (1999, 2000))
    assert np.concatenate([feed_unit(bits, ids[a:b]) for a, b in chunks]).tolist() == naive


@pytest.mark.parametrize("kw", [{"rate": 1.0}, {"s_max": 10_000}])
def test_shards_without_sampling_is_exact(kw: dict[str, float]) -> None:
    trace = _traces()["zipf"]
    sizes = [1, 10, 100, 1000, 3000]
    err = compare_curves(lru_mrc(trace, sizes), shards_mrc(trace, sizes, **kw))["abs_error"]  # type: ignore[arg-type]
    assert err.max() < 1e-12


@pytest.mark.parametrize("kw,mae", [({"rate": 0.1}, 0.01), ({"s_max": 4000}, 0.01)])
def test_shards_close_to_exact_on_zipf(kw: dict[str, float], mae: float) -> None:
    trace = _zipf(1_000_000, 100_000, 1.0, seed=1)
    sizes = np.unique(np.geomspace(100, 100_000, 20).astype(int))
    both = compare_curves(lru_mrc(trace, sizes), shards_mrc(trace, sizes, **kw))  # type: ignore[arg-type]
    assert both["abs_error"].mean() < mae, both
    assert both["miss_ratio_estimate"].is_monotonic_decreasing


def test_shards_adjustment_helps() -> None:
    trace = _zipf(300_000, 30_000, 1.0, seed=2)
    sizes = np.unique(np.geomspace(100, 30_000, 12).astype(int))
    exact = lru_mrc(trace, sizes)
    adj = compare_curves(exact, shards_mrc(trace, sizes, rate=0.05))["abs_error"].mean()
    raw = compare_curves(exact, shards_mrc(trace, sizes, rate=0.05, adjust=False))["abs_error"].mean()
    assert adj < raw


@pytest.mark.parametrize("call,msg", [
    (lambda t: lru_mrc(t, [0, 5]), "positive integers"),
    (lambda t: lru_mrc(t, [-3]), "positive integers"),
    (lambda t: lru_mrc(t, []), "positive integers"),
    (lambda t: lru_mrc(t, [5], warmup=-1), "warmup"),
    (lambda t: shards_mrc(t, [5]), "exactly one of rate"),
    (lambda t: shards_mrc(t, [5], rate=0.1, s_max=10), "exactly one of rate"),
    (lambda t: shards_mrc(t, [5], rate=0.0), r"rate must be in \(0, 1\]"),
    (lambda t: shards_mrc(t, [5], rate=1.5), r"rate must be in \(0, 1\]"),
    (lambda t: shards_mrc(t, [5], s_max=0), "s_max must be a positive integer"),
])
def test_bad_arguments(call: object, msg: str) -> None:
    with pytest.raises(PolicyError, match=msg):
        call(Trace.from_ids([1, 2, 1]))  # type: ignore[operator]


def test_progress_bar_on_long_runs_only(capsys: pytest.CaptureFixture[str]) -> None:
    long = Trace.from_ids(np.random.default_rng(9).integers(0, 50_000, 1_100_000))
    lru_mrc(long, [10, 1000], progress=True)
    assert "stack distances" in capsys.readouterr().err
    lru_mrc(long, [10, 1000], progress=False)
    lru_mrc(_traces()["zipf"], [10], progress=True)  # short: no bar
    assert capsys.readouterr().err == ""
