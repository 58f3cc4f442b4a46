"""TTL expiry on a ManualClock."""

from __future__ import annotations

import pytest

from supreme.cache.policies import TTL, PolicyError, make_policy
from supreme.clock import ManualClock


def test_entries_expire_and_are_misses(clock: ManualClock) -> None:
    p = make_policy("lru", 3, ttl=10, clock=clock)
    assert isinstance(p, TTL)
    p.insert("a")
    clock.advance(5)
    p.insert("b", ttl=20)
    assert p.lookup("a") and p.expires_at("a") == 1010.0
    clock.advance(5)  # a expires exactly at its expiry time
    assert "a" not in p and not p.lookup("a") and len(p) == 1
    assert p.lookup("b")
    clock.advance(20)
    assert list(p.keys()) == [] and not p.lookup("b")


def test_expired_entries_are_dropped_before_any_eviction(clock: ManualClock) -> None:
    p = TTL(make_policy("lru", 3), clock, 100)
    p.insert("old", ttl=1)
    p.insert("x")
    p.insert("y")
    p.lookup("old")  # would make "old" the MRU under plain LRU
    clock.advance(2)
    assert p.insert("z") == ["old"]  # expired first, though x is the LRU
    assert sorted(p.keys(), key=str) == ["x", "y", "z"]
    assert p.insert("w") == ["x"]  # nothing expired: the inner policy decides


def test_reinsert_refreshes_expiry_and_resize(clock: ManualClock) -> None:
    p = TTL(make_policy("s3fifo", 10), clock, 5)
    p.insert("k")
    clock.advance(4)
    p.insert("k")
    clock.advance(4)
    assert p.lookup("k")
    for i in range(5):
        p.insert(i, ttl=0.5)
    clock.advance(0.5)  # k (refreshed at 1004) lives until 1009
    assert p.resize(2) == [0, 1, 2, 3, 4] and list(p.keys()) == ["k"]
    assert p.remove("k") and not p.remove("k")


def test_bad_ttl(clock: ManualClock) -> None:
    with pytest.raises(PolicyError, match="ttl must be > 0"):
        make_policy("lru", 3, ttl=0, clock=clock)
    p = TTL(make_policy("lru", 3), clock, 1)
    with pytest.raises(PolicyError, match="ttl must be > 0"):
        p.insert("a", ttl=-1)
