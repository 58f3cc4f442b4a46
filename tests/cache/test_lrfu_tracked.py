"""Tracked LRFU: the same decisions as LRFU until retuned, then an exact ranking at the new horizon."""

from __future__ import annotations

import numpy as np
import pytest

from supreme.cache.policies import LRFU, LRU, PolicyError, make_policy
from supreme.cache.policies.lrfu_tracked import TrackedLRFU
from supreme.cache.tiers.memory import MemoryTier
from supreme.clock import ManualClock

FAMILY = ["lrfu:2", "lrfu:4", "lrfu", "lrfu:16", "lrfu:32"]


def zipf_keys(n: int, n_keys: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    return [int(k) for k in rng.zipf(1.2, n) % n_keys]


@pytest.mark.parametrize("spec", ["lrfu:2", "lrfu", "lrfu:32"])
@pytest.mark.parametrize("cap", [4, 100])
def test_until_retuned_it_decides_exactly_as_lrfu(spec: str, cap: int) -> None:
    # cap 4 at horizon 2: the weights pass 2^64 every 512 requests, so rescaling is exercised too
    keys = zipf_keys(20_000, 2_000, seed=3)
    plain, tracked = make_policy(spec, cap), make_policy(spec, cap, track=FAMILY)
    assert isinstance(tracked, TrackedLRFU) and not isinstance(plain, TrackedLRFU)
    for i, k in enumerate(keys):
        if i % 97 == 0:  # low-priority inserts and removals take the same paths
            assert plain.insert(-k - 1, low_priority=True) == tracked.insert(-k - 1, low_priority=True)
            assert plain.remove(k) == tracked.remove(k)
        assert plain.request(k) == tracked.request(k), i
    assert plain.eviction_order() == tracked.eviction_order()


def test_a_retune_ranks_the_residents_as_static_lrfu_at_that_horizon() -> None:
    # with an unbounded ghost history every score is the whole reference history's, in both runs
    keys = zipf_keys(20_000, 3_000, seed=5)
    for target in ("lrfu:2", "lrfu:32"):
        static = make_policy(target, 100, history=10**9)
        tracked = make_policy("lrfu", 100, track=FAMILY, history=10**9)
        for k in keys:
            static.request(k)
            tracked.request(k)
        assert tracked.retune(target) and tracked.spec == target
        common = [k for k in static.eviction_order() if k in tracked]
        assert len(common) > 30
        assert [k for k in tracked.eviction_order() if k in static] == common
        for k in common[:10]:
            assert tracked.score(k) == pytest.approx(static.score(k), rel=1e-9)


def test_a_retune_to_a_short_horizon_forgets_a_hot_set_that_moved_away() -> None:
    old_hot = list(range(6))
    tracked = make_policy("lrfu:32", 10, track=["lrfu:2"])
    for _ in range(50):
        for k in old_hot:
            tracked.request(k)
    for _ in range(10):  # the new hot set: fewer, recent references each
        for k in range(100, 104):
            tracked.request(k)
    # at the long horizon the old hot set still outranks the new one: a new key would go first
    assert set(tracked.eviction_order()[:4]) == set(range(100, 104))
    assert tracked.retune("lrfu:2")
    assert set(tracked.eviction_order()[:6]) == set(old_hot)


def test_retune_refuses_what_it_did_not_track() -> None:
    tracked = make_policy("lrfu", 50, track=["lrfu:2"])
    assert tracked.retune("lrfu:2") and tracked.retune("lrfu")
    assert not tracked.retune("lrfu:16") and not tracked.retune("lru") and tracked.spec == "lrfu"
    assert not LRU(5).retune("lrfu") and not LRFU(5).retune("lrfu:2")


def test_track_is_ignored_across_families_and_checked_within() -> None:
    assert type(make_policy("lru", 10, track=FAMILY)) is LRU
    assert type(make_policy("lrfu", 10, track=["lru", "arc"])) is LRFU  # no other LRFU horizon
    assert make_policy("lrfu:4", 10, track=["lrfu:4", "lrfu:16"]).tracked == (4.0, 16.0)
    with pytest.raises(PolicyError):
        make_policy("lrfu", 10, track=["lrfu:-1"])
    with pytest.raises(PolicyError):
        TrackedLRFU(10, track=[float("nan")])


def test_memory_tier_retunes_in_place_without_moving_an_entry() -> None:
    tier = MemoryTier(make_policy("lrfu", 8, track=["lrfu:2"]), clock=ManualClock(0.0))
    for i in range(8):
        tier.set(f"k{i}", i)
    before = {f"k{i}": tier.get(f"k{i}") for i in range(8)}
    adj = tier.retune_policy("lrfu:2")
    assert adj.applied and adj.migrated == 8 and adj.lost == 0 and not adj.evicted
    assert tier.policy.spec == "lrfu:2" and {k: tier.get(k) for k in before} == before
    assert not tier.retune_policy("lrfu:16").applied and tier.policy.spec == "lrfu:2"
