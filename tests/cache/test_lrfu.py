"""LRFU: hand-worked rankings, its LRU limit (exact, also against libCacheSim), history, specs."""

from __future__ import annotations

import numpy as np
import pytest

from supreme.cache.policies import LRFU, PolicyError, make_policy, normalize_name, split_spec
from supreme.cache.tiers.memory import MemoryTier
from supreme.cache.trace import Trace, load_trace
from supreme.cache.traces import simulate
from supreme.clock import ManualClock
from tests.conftest import shared_or_skip


def misses(policy: LRFU, keys: list[int]) -> list[int]:
    return [k for k in keys if not policy.request(k)]


def test_short_half_life_evicts_the_older_key_long_half_life_the_rarer_one() -> None:
    # a a b, then c: with h = 1 request, a's two references (t=1, 2) are worth 0.75 at t=3 against
    # b's 1 (t=3): a goes, as in LRU.  With h = 100 they are worth ~1.97 against 1: b goes, as in LFU.
    short = LRFU(2, half_life=1.0, history=0)
    misses(short, [1, 1, 2, 3])
    assert set(short.keys()) == {2, 3}
    long = LRFU(2, half_life=100.0, history=0)
    misses(long, [1, 1, 2, 3])
    assert set(long.keys()) == {1, 3}


def test_score_halves_every_half_life() -> None:
    p = LRFU(100, half_life=4.0)
    p.request("k")
    assert p.score("k") == pytest.approx(1.0)
    for i in range(4):
        p.request(i)
    assert p.score("k") == pytest.approx(0.5)
    p.request("k")  # the request itself is one more step: the old reference is now 5 steps back
    assert p.score("k") == pytest.approx(1.0 + 2.0 ** (-5 / 4))


def test_vanishing_half_life_without_history_is_exactly_lru() -> None:
    rng = np.random.default_rng(7)
    keys = rng.zipf(1.3, 4000).tolist()
    for cap in (1, 5, 40):
        lrfu = LRFU(cap, half_life=1e-3, history=0)
        lru = make_policy("lru", cap)
        assert [lrfu.request(k) for k in keys] == [lru.request(k) for k in keys]


def test_lru_limit_matches_libcachesim_lru_on_the_real_trace() -> None:
    import libcachesim as lcs

    path = shared_or_skip("cloudPhysicsIO.oracleGeneral.bin", kind="traces")
    trace: Trace = load_trace(path)
    reader = lcs.TraceReader(str(path), lcs.TraceType.ORACLE_GENERAL_TRACE,
                             lcs.ReaderInitParam(ignore_obj_size=True))
    ref = float(lcs.LRU(cache_size=500).process_trace(reader)[0])
    ours = simulate(trace, "lrfu", 500, half_life=1e-3, history=0)
    assert ours.misses == round(ref * len(trace))


def test_ghost_history_brings_a_returning_key_back_with_its_count() -> None:
    keys = [1, 1, 1, 2, 3, 1]  # 1 is evicted by 3 (cap 1), then returns
    with_history = LRFU(1, half_life=1000.0, history=4)
    misses(with_history, keys)
    assert with_history.score(1) > 3.9  # three old references plus this one, barely decayed
    without = LRFU(1, half_life=1000.0, history=0)
    misses(without, keys)
    assert without.score(1) == pytest.approx(1.0)


def test_history_and_heap_stay_bounded() -> None:
    p = LRFU(10, history=25)
    rng = np.random.default_rng(0)
    for k in rng.integers(0, 500, 20_000).tolist():
        p.request(k)
        assert len(p._ghost) <= 25
    for _ in range(5000):
        p.request(next(iter(p.keys())))
    assert len(p._heap) <= 2 * len(p) + 65
    assert len(p) == 10


def test_ghost_history_helps_a_shifting_popularity() -> None:
    # two hot sets take turns; a key coming back keeps its count, so the history pays
    rng = np.random.default_rng(3)
    keys: list[int] = []
    for phase in range(40):
        hot = np.arange(20) + (phase % 2) * 20
        keys += rng.choice(np.concatenate([hot, np.arange(100, 400)]), 500,
                           p=np.r_[np.full(20, 0.8 / 20), np.full(300, 0.2 / 300)]).tolist()
    hist, nohist = LRFU(30, history=30), LRFU(30, history=0)
    m_hist = len(misses(hist, keys))
    m_none = len(misses(nohist, keys))
    assert m_hist < m_none


def test_low_priority_insert_goes_before_a_key_used_once_now() -> None:
    p = LRFU(2, half_life=8.0)
    p.request("hot")
    p.insert("prefetched", low_priority=True)
    assert p.eviction_order()[0] == "prefetched"
    p.request("new")
    assert "prefetched" not in p and "hot" in p


def test_remove_forgets_the_key_and_its_history() -> None:
    p = LRFU(3)
    for k in (1, 1, 2):
        p.request(k)
    assert p.remove(1)
    assert 1 not in p and 1 not in p._ghost
    p.request(1)
    assert p.score(1) == pytest.approx(1.0)


def test_specs_parse_round_trip_and_reject_nonsense() -> None:
    assert split_spec("LRFU:32") == ("lrfu", {"horizon": 32.0})
    assert split_spec("lru") == ("lru", {})
    assert normalize_name("lrfu:32.0") == "lrfu:32"
    p = make_policy("lrfu:2", 50)
    assert isinstance(p, LRFU) and p.half_life == 100.0 and p.spec == "lrfu:2"
    assert make_policy("lrfu", 50).spec == "lrfu"
    for bad in ("lru:3", "lrfu:x", "lrfu:-1", "lrfu:inf", "lrfu:0", "nope:3"):
        with pytest.raises(PolicyError):
            make_policy(bad, 10)
    with pytest.raises(PolicyError, match="history"):
        LRFU(10, history=-1)
    with pytest.raises(PolicyError, match="half-life"):
        LRFU(10, half_life=0.0)


def test_memory_tier_switches_to_an_lrfu_spec_and_reports_it() -> None:
    tier = MemoryTier("lru", capacity=8, clock=ManualClock())
    for i in range(8):
        tier.set(f"k{i}", i)
    result = tier.switch_policy("lrfu:32")
    assert result.applied and tier.policy_name == "lrfu:32"
    assert all(tier.get(f"k{i}") is not None for i in range(8))


def test_rescaling_keeps_scores_and_matches_the_kernel() -> None:
    # h = 2 requests: the weight of a reference passes 2^64 every 128 requests, so this trace
    # rescales ~30 times; decayed counts and hit flags must come through unchanged
    p = LRFU(5, half_life=2.0)
    p.request("k")
    for i in range(200):
        p.request(i % 4)
    assert p.score(0) == pytest.approx(sum(2.0 ** (-j / 2) for j in range(3, 200, 4)), rel=1e-12)
    rng = np.random.default_rng(11)
    trace = Trace.from_ids(rng.zipf(1.4, 4000) % 60)
    k = simulate(trace, "lrfu", 6, half_life=2.0, keep_hits=True)
    c = simulate(trace, "lrfu", 6, half_life=2.0, keep_hits=True, engine="python")
    assert np.array_equal(k.hit_flags, c.hit_flags)  # type: ignore[arg-type]
    with pytest.raises(PolicyError, match="half-life"):
        LRFU(5, half_life=1e-4)
