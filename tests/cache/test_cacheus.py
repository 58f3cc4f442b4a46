"""Cacheus (FAST 2021): libCacheSim as the oracle within a tolerance, and the paper's mechanics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from supreme.cache.policies import Cacheus, PolicyError, make_policy
from supreme.cache.trace import Trace, load_trace
from supreme.cache.traces import simulate
from tests.conftest import shared_or_skip


def lcs_miss_ratio(path: str, size: int) -> float:
    import libcachesim as lcs

    reader = lcs.TraceReader(
        path, lcs.TraceType.ORACLE_GENERAL_TRACE, lcs.ReaderInitParam(ignore_obj_size=True)
    )
    return float(lcs.Cacheus(cache_size=size).process_trace(reader)[0])


@pytest.mark.parametrize("size,below", [(100, 0.02), (1000, 0.005), (5000, 0.04)])
def test_cacheus_against_libcachesim(size: int, below: float) -> None:
    # libCacheSim's Cacheus.c departs from the authors' code in the learning rate: it starts at
    # a random value in [0.001, 1) and its period hit rate is an integer division (always 0), so
    # the rate only moves by its random resets; ours follows the authors' Algorithm 3.  Measured
    # here (seeds 0-2): ours 0.015 below at 100, within 0.001 at 1000, 0.026-0.036 below at 5000
    path = shared_or_skip("cloudPhysicsIO.oracleGeneral.bin", kind="traces")
    trace = load_trace(path)
    ref = lcs_miss_ratio(str(path), size)
    for spec in ("cacheus", "cacheus:1"):
        ours = simulate(trace, spec, size).miss_ratio
        assert ref - below <= ours <= ref + 0.002


def test_cacheus_close_to_libcachesim_on_zipf(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from supreme.cache.trace import save_trace

    rng = np.random.default_rng(1)
    w = 1.0 / np.arange(1, 20_001)
    trace = Trace.from_ids(rng.choice(20_000, size=100_000, p=w / w.sum()))
    path = str(save_trace(trace, tmp_path / "z.oracleGeneral.bin"))
    for size in (200, 2000):
        ours = simulate(trace, "cacheus", size).miss_ratio
        assert abs(ours - lcs_miss_ratio(path, size)) < 0.01
        # both experts earn their place: better than LRU, no worse than LFU by much
        assert ours < simulate(trace, "lru", size).miss_ratio - 0.02


def test_cacheus_resists_a_scan() -> None:
    # a hot set of 50 keys and a one-pass scan of 2,000 new keys: SR-LRU keeps the scan in Q
    hot = [f"h{i % 50}" for i in range(2000)]
    scan = [f"s{i}" for i in range(2000)]
    p, q = make_policy("cacheus", 100), make_policy("lru", 100)
    for k in hot:
        p.request(k), q.request(k)
    for k in scan:
        p.request(k), q.request(k)
    kept = sum(1 for i in range(50) if f"h{i}" in p)
    assert kept >= 40 and sum(1 for i in range(50) if f"h{i}" in q) == 0


def test_cacheus_punishes_the_expert_whose_victim_returns() -> None:
    moved = 0
    for seed in range(8):
        p = make_policy(f"cacheus:{seed + 1}", 4)
        assert isinstance(p, Cacheus)
        # S holds b, c, d (d's hit demoted a to Q): SR-LRU names a, CR-LFU the newest of b, c (c)
        for k in ("a", "a", "a", "b", "c", "d", "d"):
            p.request(k)
        evicted = p.insert("e")
        assert evicted in (["a"], ["c"]) and len(p) == 4
        lr = p.lr
        p.request(evicted[0])  # a miss on a history key: its expert loses weight
        w = 0.5 * math.exp(-lr)
        loser = p.w_lru if evicted == ["a"] else p.w_lfu
        moved += evicted == ["a"]
        assert loser == pytest.approx(w / (w + 0.5)) and p.w_lru + p.w_lfu == pytest.approx(1.0)
    assert 0 < moved < 8  # the seeds drew both experts


def test_cacheus_learning_rate_starts_as_the_paper_and_stays_bounded() -> None:
    p = Cacheus(1000)
    assert p.lr == pytest.approx(math.sqrt(2 * math.log(2) / 1000))
    rng = np.random.default_rng(3)
    for k in rng.zipf(1.2, 60_000).tolist():
        p.request(k % 5000)
        assert 0.001 <= p.lr <= 1.0
    assert 0.01 <= p.w_lru <= 0.99 and p.w_lru + p.w_lfu == pytest.approx(1.0)
    assert p.s_limit + p.q_limit == 1000 and 1 <= p.q_limit <= 999


def test_cacheus_invariants_under_sizes_removes_and_resizes() -> None:
    rng = np.random.default_rng(5)
    p = Cacheus(500, seed=2)
    for i, k in enumerate(rng.integers(0, 3000, 20_000).tolist()):
        p.insert(k, int(rng.integers(1, 9))) if i % 7 == 0 else p.request(k)
        if i % 97 == 0:
            p.remove(int(rng.integers(0, 3000)))
        if i == 10_000:
            p.resize(200)
        assert p.used <= p.capacity
    assert p._s_used + p._q_used == p.used and set(p._s) | set(p._q) == set(p.keys())
    assert p.insert("big", 201) == ["big"]


def test_cacheus_low_priority_insert_is_the_next_victim() -> None:
    p = make_policy("cacheus", 10)
    for k in range(10):
        p.request(k)
    p.remove(0)
    p.insert("pf", 1, low_priority=True)
    assert "pf" in p and "pf" in p.insert("new")


def test_cacheus_spec_and_bad_input() -> None:
    assert make_policy("cacheus:7", 5).spec == "cacheus:7" and make_policy("Cacheus", 5).spec == "cacheus"
    with pytest.raises(PolicyError):
        make_policy("cacheus", 0)
    with pytest.raises(PolicyError):
        make_policy("cacheus:x", 10)
