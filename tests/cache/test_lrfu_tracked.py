"""Tracked LRFU: the same decisions as LRFU until retuned, then an exact ranking at the new horizon."""

from __future__ import annotations

import math

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


class _EagerScores:
    """Reference: every key's score at every horizon, updated per request (the form the buffer replaces)."""

    def __init__(self, cap: int, horizons: list[float], history: int) -> None:
        self.steps = [2.0 ** (1.0 / (h * cap)) for h in horizons]
        self.ws = [1.0] * len(horizons)
        self.vec: dict[int, list[float]] = {}
        self.ghost: dict[int, list[float]] = {}  # insertion-ordered FIFO
        self.history = history

    def _tick(self, half: bool) -> list[float]:
        self.ws = [w * s for w, s in zip(self.ws, self.steps, strict=True)]
        if self.ws[0] > 2.0**64:
            scale = [2.0 ** -math.frexp(w)[1] if w > 2.0**64 else 1.0 for w in self.ws]
            self.ws = [w * s for w, s in zip(self.ws, scale, strict=True)]
            for table in (self.vec, self.ghost):
                for k, v in table.items():
                    table[k] = [x * s for x, s in zip(v, scale, strict=True)]
        return [w * 0.5 for w in self.ws] if half else self.ws

    def hit(self, key: int) -> None:
        w = self._tick(False)  # first: a rescale scales this key's scores too
        self.vec[key] = [a + x for a, x in zip(self.vec[key], w, strict=True)]

    def insert(self, key: int, evicted: list[int], half: bool) -> None:
        for k in evicted:
            self.ghost[k] = self.vec.pop(k)
            if len(self.ghost) > self.history:
                del self.ghost[next(iter(self.ghost))]
        w = self._tick(half)
        old = self.ghost.pop(key, None)
        self.vec[key] = list(w) if old is None else [a + x for a, x in zip(old, w, strict=True)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_buffered_scores_equal_per_request_scores_through_retunes_removes_and_row_reuse(seed: int) -> None:
    # a small cache with a short history: rows are freed and reused all the time, the horizon-2
    # weight is rescaled every 1,024 requests and the buffer is applied at every retune
    rng = np.random.default_rng(seed)
    cap, horizons = 8, [2.0, 4.0, 8.0, 16.0, 32.0]
    tracked = make_policy("lrfu", cap, track=FAMILY)
    ref = _EagerScores(cap, horizons, history=cap)
    for step in range(6000):
        k = int(rng.zipf(1.3) % 40)
        op = rng.random()
        if op < 0.05:
            if tracked.remove(k):
                del ref.vec[k]
            continue
        half = op < 0.1
        if tracked.lookup(k):
            ref.hit(k)
        else:
            ref.insert(k, tracked.insert(k, low_priority=half), half)
        if step % 173 == 0:
            h = horizons[int(rng.integers(len(horizons)))]
            assert tracked.retune(f"lrfu:{h:g}")
            i = horizons.index(h)
            assert {k: tracked.score(k) for k in tracked.eviction_order()} == \
                {k: v[i] / ref.ws[i] for k, v in ref.vec.items()}
