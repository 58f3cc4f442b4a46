"""Warm policy switches: the new policy learns from the recent demand tail, keeps exactly the residents."""

from __future__ import annotations

import random

import numpy as np
import pytest

from supreme.adaptive import _policies
from supreme.adaptive import workloads as wl
from supreme.adaptive.simulate import SimCache


@pytest.mark.parametrize("warm", [None, 0])
@pytest.mark.parametrize("name", ["lfu", "lrfu", "arc", "s3fifo", "wtinylfu", "cacheus", "lirs"])
def test_switch_keeps_exactly_the_residents(name: str, warm: int | None) -> None:
    cache = SimCache(40, "lru", track_recency=True, warm_switch=warm)
    rng = random.Random(3)
    for _ in range(2000):
        cache.access(f"k{int(rng.paretovariate(1.2)) % 150}")
    before = set(cache.policy.keys())
    result = cache.switch_policy(name)
    assert result.switched and result.lost == 0 and set(cache.policy.keys()) == before
    assert cache.policy.used <= cache.policy.capacity


def test_warm_switch_carries_frequencies() -> None:
    # a and b were requested 5 times, c once but last: LFU fed the tail evicts c; fed the
    # residents by recency only (a cold switch) it sees three keys of frequency 1 and evicts a
    for warm, victim in ((None, "c"), (0, "a")):
        cache = SimCache(3, "lru", track_recency=True, warm_switch=warm)
        for k in ["a", "b"] * 5 + ["c"]:
            cache.access(k)
        assert cache.switch_policy("lfu").switched
        assert cache.policy.insert("d") == [victim]


def _misses_after_switch(keys: list[str], cap: int, at: int, warm: int | None, n: int) -> int:
    cache = SimCache(cap, "s3fifo", track_recency=True, warm_switch=warm)
    hits = []
    for i, k in enumerate(keys[: at + n]):
        if i == at:
            assert cache.switch_policy("lrfu").switched
        hits.append(cache.access(k))
    return n - int(np.sum(hits[at:]))


def test_warm_switch_costs_fewer_misses_than_a_cold_one() -> None:
    # zipf_shifting at size 200, S3-FIFO -> LRFU after 9,000 requests (measured: a cold switch
    # costs 0.7 misses per slot over the next 9,000 requests against LRFU run from the start,
    # the warm one 0.2)
    keys = wl.zipf_shifting(20_000, shift_every=20_000, shift_fraction=1.0, seed=1).keys
    pol = _policies.make("lrfu", 200)
    flags = [pol.request(k) for k in keys[:18_000]]
    static = 9000 - sum(flags[9000:])
    cold = _misses_after_switch(keys, 200, 9000, 0, 9000) - static
    warm = _misses_after_switch(keys, 200, 9000, None, 9000) - static
    assert cold > 0.4 * 200 and warm < 0.5 * cold
