"""Differential tests: every compiled kernel against its Python class, hit for hit."""

from __future__ import annotations

import numpy as np
import pytest

from supreme.cache.kernels import KERNELS
from supreme.cache.policies import POLICIES, PolicyError
from supreme.cache.trace import Trace, load_trace
from supreme.cache.traces import miss_ratio_curve, simulate
from tests.conftest import shared_or_skip


def zipf_trace(seed: int, n: int, n_obj: int, alpha: float = 1.0, sizes: bool = False) -> Trace:
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_obj + 1) ** alpha
    ids = rng.choice(n_obj, size=n, p=weights / weights.sum()) * 7919 + 3  # sparse ids exercise remapping
    size_arr = rng.integers(1, 40, size=n) if sizes else None
    if sizes:
        # one size per object, as in a real trace
        size_arr = (ids * 2654435761 % 39 + 1).astype(np.int64)
    return Trace.from_ids(ids, size_arr)


@pytest.mark.parametrize("name", list(KERNELS))  # class-only policies: tests/cache/test_policies_research.py
@pytest.mark.parametrize("seed,cap", [(1, 1), (2, 7), (3, 50), (4, 300)])
def test_kernel_matches_class_on_random_traces(name: str, seed: int, cap: int) -> None:
    trace = zipf_trace(seed, 3000, 400, alpha=0.8)
    k = simulate(trace, name, cap, keep_hits=True)
    p = simulate(trace, name, cap, keep_hits=True, engine="python")
    assert k.hit_flags is not None and p.hit_flags is not None
    assert np.array_equal(k.hit_flags, p.hit_flags)


@pytest.mark.parametrize("name", list(KERNELS))  # class-only policies: tests/cache/test_policies_research.py
@pytest.mark.parametrize("cap", [40, 400])
def test_kernel_matches_class_with_byte_sizes(name: str, cap: int) -> None:
    trace = zipf_trace(cap, 3000, 300, sizes=True)
    k = simulate(trace, name, cap, ignore_size=False, keep_hits=True)
    p = simulate(trace, name, cap, ignore_size=False, keep_hits=True, engine="python")
    assert np.array_equal(k.hit_flags, p.hit_flags)  # type: ignore[arg-type]
    assert k.bytes_requested == int(trace.obj_size.sum())


@pytest.fixture(scope="module")
def cloud() -> Trace:
    return load_trace(shared_or_skip("cloudPhysicsIO.oracleGeneral.bin", kind="traces"))


@pytest.mark.parametrize("name", list(KERNELS))  # class-only policies: tests/cache/test_policies_research.py
def test_kernel_matches_class_on_real_trace(cloud: Trace, name: str) -> None:
    k = simulate(cloud, name, 2000, keep_hits=True)
    p = simulate(cloud, name, 2000, keep_hits=True, engine="python")
    assert np.array_equal(k.hit_flags, p.hit_flags)  # type: ignore[arg-type]


def test_warmup_and_ratios() -> None:
    trace = Trace.from_ids([1, 2, 1, 2, 3, 1], sizes=[10, 20, 10, 20, 30, 10])
    r = simulate(trace, "lru", 2, warmup=2, keep_hits=True)
    assert list(r.hit_flags) == [0, 0, 1, 1, 0, 0]  # type: ignore[arg-type]
    assert (r.requests, r.hits, r.misses) == (4, 2, 2)
    assert r.miss_ratio == 0.5 and r.byte_miss_ratio == pytest.approx(40 / 70)


def test_mrc_all_policies_and_monotone_lru() -> None:
    trace = zipf_trace(9, 5000, 500)
    mrc = miss_ratio_curve(trace, "all", [10, 50, 200])
    assert len(mrc) == 3 * len(POLICIES)
    lru = mrc[mrc.policy == "lru"].miss_ratio.to_numpy()
    assert (np.diff(lru) <= 0).all()  # LRU is a stack algorithm: no Belady anomaly
    per_size = mrc.pivot(index="size", columns="policy", values="miss_ratio")
    assert (per_size["opt"] <= per_size.min(axis=1) + 1e-12).all()


@pytest.mark.parametrize("kwargs,msg", [
    ({"size": 0}, "positive integer"), ({"size": 5, "warmup": -1}, "warmup"),
    ({"size": 5, "engine": "gpu"}, "engine"), ({"size": 5, "policy": "zzz"}, "unknown eviction policy"),
])
def test_bad_simulation_input(kwargs: dict, msg: str) -> None:
    args = {"policy": "lru", **kwargs}
    with pytest.raises(PolicyError, match=msg):
        simulate(Trace.from_ids([1, 2]), args.pop("policy"), **args)
