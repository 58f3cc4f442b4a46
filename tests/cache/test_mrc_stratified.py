"""Stratified SHARDS: the weighted stack pass, the strata weights, exactness at full sampling, accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from supreme.cache.mrc import compare_curves, curve_table, lru_mrc, shards_mrc
from supreme.cache.mrc.stratified import _groups, stratified_weights
from supreme.cache.mrc.weighted import WeightedState, feed_weighted
from supreme.cache.policies import PolicyError
from supreme.cache.trace import Trace


def _zipf(n: int, n_obj: int, alpha: float, seed: int) -> Trace:
    rng = np.random.default_rng(seed)
    w = 1.0 / np.arange(1, n_obj + 1) ** alpha
    return Trace.from_ids(rng.choice(n_obj, size=n, p=w / w.sum()))


def _brute_weighted(ids: np.ndarray, own: np.ndarray, obj_weight: np.ndarray) -> list[float]:
    """Per request: the weighted size of the distinct others since the previous request, plus its own."""
    out = []
    for i, x in enumerate(ids.tolist()):
        prev = [j for j in range(i) if ids[j] == x]
        if not prev:
            out.append(-1.0)
            continue
        latest: dict[int, int] = {}
        for j in range(prev[-1] + 1, i):
            latest[int(ids[j])] = j
        out.append(sum(obj_weight[y] * own[j] for y, j in latest.items()) + own[i])
    return out


def test_weighted_distances_equal_a_brute_force_count() -> None:
    rng = np.random.default_rng(11)
    n_obj = 25
    ids = rng.integers(0, n_obj, 600)
    own = rng.integers(1, 9, 600).astype(np.float64)
    obj_weight = rng.choice([0.5, 1.0, 3.0, 7.25], n_obj)
    # a tree of n_obj + 1 positions: it packs (and rebuilds its total) every few requests
    m = n_obj + 1
    state = WeightedState(np.zeros(m + 1), np.full(m, -1, np.int64), np.full(n_obj, -1, np.int64),
                          np.zeros(n_obj), np.zeros(1, np.int64), np.zeros(1))
    got = np.concatenate([feed_weighted(state, ids[a:b], own[a:b], obj_weight)
                          for a, b in ((0, 1), (1, 350), (350, 600))])
    np.testing.assert_allclose(got, _brute_weighted(ids, own, obj_weight), rtol=1e-12)


def test_strata_weights_restore_each_stratum_and_keep_the_head() -> None:
    rng = np.random.default_rng(4)
    counts = np.concatenate([rng.integers(1, 4, 5000), rng.integers(50, 400, 300), [9000, 8000, 7000]])
    sampled = rng.random(len(counts)) < 0.1
    w = stratified_weights(counts, sampled, 0.1, head=3, per_octave=1, min_expected=5)
    assert w[-3:].tolist() == [1.0, 1.0, 1.0]  # the take-all head, sampled or not
    assert (w[:-3][~sampled[:-3]] == 0).all()
    # within a stratum (octave of the count, pooled from the top), the weights add up to its objects
    strata = np.floor(np.log2(counts[:-3])).astype(int)
    group = _groups(np.bincount(strata), 0.1, 5)[strata]
    for g in np.unique(group):
        assert w[:-3][group == g].sum() == pytest.approx((group == g).sum())
    assert len(np.unique(group)) < len(np.unique(strata))  # the sparse top strata were pooled


def test_groups_pool_sparse_strata_from_the_top() -> None:
    # 1000 objects of count 1, none of 2-3, 30 of 4-7, 20 of 8-15, 60 of 16-31; rate 0.1, 5 expected
    # 6 expected at the top stand alone; 2 + 3 pool; the empty stratum starts a pool the bottom fills
    assert _groups(np.array([1000, 0, 30, 20, 60]), 0.1, 5).tolist() == [1, 1, 3, 3, 4]
    # a short bottom pool joins the one above
    assert _groups(np.array([10, 0, 60]), 0.1, 5).tolist() == [2, 2, 2]


@pytest.mark.parametrize("ignore_size", [True, False])
@pytest.mark.parametrize("kw", [{"rate": 1.0}, {"rate": 1.0, "head": 50}, {"rate": 0.001, "head": 10**6}])
def test_stratified_without_sampling_is_exact(kw: dict[str, float], ignore_size: bool) -> None:
    rng = np.random.default_rng(3)
    ids = rng.choice(3000, 20_000, p=(w := 1 / np.arange(1, 3001) ** 0.9) / w.sum())
    trace = Trace.from_ids(ids)
    if not ignore_size:  # one size per object, each smaller than the smallest cache
        trace = Trace(trace.time, trace.obj_id, (ids % 7 + 1).astype(trace.obj_size.dtype))
    sizes = [1, 10, 100, 1000, 3000] if ignore_size else [8, 80, 800, 8000, 20_000]
    exact = lru_mrc(trace, sizes, ignore_size=ignore_size)
    est = shards_mrc(trace, sizes, stratify=True, ignore_size=ignore_size, **kw)  # type: ignore[arg-type]
    assert compare_curves(exact, est)["abs_error"].max() < 1e-12
    assert np.allclose(est["byte_miss_ratio"], exact["byte_miss_ratio"])


def test_stratified_beats_plain_shards_on_seeded_zipf() -> None:
    base = _zipf(1_000_000, 100_000, 1.0, seed=1)
    # sizes from 10/rate: below it a few hot sampled objects decide the curve for either estimator
    sizes = np.unique(np.geomspace(1000, 100_000, 30).astype(int))
    exact = lru_mrc(base, sizes)
    plain, strat = [], []
    for seed in range(4):  # relabelled ids: the same curve, another draw of sampled objects
        trace = Trace.from_ids(np.random.default_rng(seed).permutation(100_000)[base.obj_id])
        plain.append(compare_curves(exact, shards_mrc(trace, sizes, rate=0.01))["abs_error"].mean())
        est = shards_mrc(trace, sizes, rate=0.01, stratify=True)
        assert est["method"].iloc[0] == "shards rate 0.01 stratified"
        strat.append(compare_curves(exact, est)["abs_error"].mean())
    assert np.mean(strat) < np.mean(plain), (plain, strat)
    assert max(strat) < 0.01, strat


def test_curve_table_puts_stratified_beside_plain() -> None:
    trace = _zipf(20_000, 3000, 0.9, 3)
    table = curve_table(trace, [10, 100, 1000], rate=0.5, stratify=True, head=20)
    assert {"shards rate 0.5", "shards rate 0.5 stratified head 20",
            "error shards rate 0.5 stratified head 20"} <= set(table.columns)


@pytest.mark.parametrize("call,msg", [
    (lambda t: shards_mrc(t, [5], rate=0.1, stratify=True, head=-1), "head must be an integer >= 0"),
    (lambda t: shards_mrc(t, [5], rate=0.1, stratify=True, head=2.5), "head must be an integer >= 0"),
    (lambda t: shards_mrc(t, [5], rate=0.1, head=3), "head needs stratify=True"),
    (lambda t: shards_mrc(t, [5], s_max=10, stratify=True), "needs a fixed rate"),
    (lambda t: shards_mrc(t, [5], rate=0.0, stratify=True), r"rate must be in \(0, 1\]"),
    (lambda t: shards_mrc(t, [5], rate=1.5, stratify=True), r"rate must be in \(0, 1\]"),
    (lambda t: curve_table(t, [5], s_max=10, stratify=True), "needs a fixed rate"),
])
def test_bad_stratified_arguments(call: object, msg: str) -> None:
    with pytest.raises(PolicyError, match=msg):
        call(Trace.from_ids([1, 2, 1]))  # type: ignore[operator]
